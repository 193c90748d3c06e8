"""items: drop ix_items_agent_trace (an index keyed by a random trace id costs every insert a page)

Nothing reads items by (agent, trace_id): dedupe is by dedupe_key, a trace is looked up across
agents through ix_items_trace, and agent filters walk a sort index. Each index keyed by a random
value dirties about one page per inserted row; this one was a fifth of a batch's server time.

Revision ID: 0014_ingest_indexes
Revises: 0010_workbench
Create Date: 2026-11-28
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0014_ingest_indexes"
down_revision: str | None = "0010_workbench"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_agent_trace")


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_agent_trace", ["agent", "trace_id"], unique=False)
