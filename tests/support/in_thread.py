"""Run a callable in a fresh thread and hand back its result or exception.

The browser tests' session-wide Playwright (sync API) keeps an event loop running in the main
thread for the rest of the run, so `asyncio.run`, `anyio.run` or a framework's `run_sync` must not
start there; a thread of its own has no loop yet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


TIMEOUT_S = 300.0


def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not finish in {TIMEOUT_S}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
