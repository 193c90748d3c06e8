"""Request and answer models for sampled outputs (POST /api/v1/items). No table of their own."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class TraceStep(BaseModel):
    """One tool call the agent made."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tool: StrictStr = Field(min_length=1, max_length=200)
    args: dict[str, Any] = Field(default_factory=dict)
    result: Any = None


class JudgeInput(BaseModel):
    """The agent pipeline's own automated verdict on this output (never shown to reviewers)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    verdict: Literal["approve", "reject"]
    score: float | None = Field(default=None, description="the judge's own score, any scale")
    model: StrictStr = Field(default="", max_length=128, description="which judge model said so")


class OutputCreate(BaseModel):
    """One sampled agent output to be checked by a person."""

    model_config = ConfigDict(extra="forbid", strict=True)

    trace_id: StrictStr = Field(min_length=1, max_length=128)
    # Defaults to the token's agent; if given it must be that agent.
    agent: StrictStr | None = Field(default=None, min_length=1, max_length=64,
                                    description="if given, must be the bearer token's agent (anything else is a "
                                    "422); GET /api/v1/openapi.json with the token pins the value")
    category: StrictStr = Field(min_length=1, max_length=64)
    input: Any = Field(description="what the agent was given (text or JSON)")
    output: Any = Field(description="what the agent produced (text or JSON)")
    context: Any = None
    # The agent's tool calls on the way to this output, in order: shown to the reviewer, who can
    # then spot a loop or a wrong call.
    trace: list[TraceStep] | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None
    # Compared with the human verdict on the agreement page (VIGILANCE.md §8); kept out of the payload.
    judge: JudgeInput | None = None


class OutputBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[Any] = Field(min_length=1, max_length=1000)


class OutputResult(BaseModel):
    """The answer for one submitted output."""

    trace_id: str
    queued: bool = Field(description="true if the item is in the review queue")
    id: str | None = Field(description="the item id when queued (GET /api/v1/items/<id>), else null")
    duplicate: bool = Field(description="true if this trace_id was already submitted by this agent")
