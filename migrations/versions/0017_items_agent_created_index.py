"""items: ix_items_agent_created (agent, created_at, id)

An agent's value bank holds only the agent's own recent items (another agent's ids and names can
share a format and still read as foreign in a canary). Read through ix_items_slot, a busy agent's
newest 300 meant reading and sorting its whole source window: 91 ms at 300,000 items, against
0.2 ms through this index. Slot profiles keep reading through ix_items_slot (canaries/binding.py
says why); an index for them too (agent, category, kind, created_at) cost batch ingest about a
tenth in the bench.

Revision ID: 0017_items_agent_created_index
Revises: 0016_items_slot_index
Create Date: 2026-11-30
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0017_items_agent_created_index"
down_revision: str | None = "0016_items_slot_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_agent_created", ["agent", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_agent_created")
