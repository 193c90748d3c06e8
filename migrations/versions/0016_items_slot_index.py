"""items: ix_items_slot (agent, category, kind, status, outcome, decided_at)

A planted claim reads its slot's most recently approved items, newest first, for mutation
canaries and controls, and with a cached value bank it does so inside the claim's write
transaction. Through ix_items_settled it read every approved item of every slot until enough of
its own had passed; this index reads exactly the slot's, in order.

Revision ID: 0016_items_slot_index
Revises: 0015_injection_source_uses
Create Date: 2026-11-28
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016_items_slot_index"
down_revision: str | None = "0015_injection_source_uses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_slot", ["agent", "category", "kind", "status", "outcome", "decided_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_slot")
