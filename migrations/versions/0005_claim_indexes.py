"""claim indexes end with id

Revision ID: 0005_claim_indexes
Revises: 0004_dashboard
Create Date: 2026-11-22

The claim tiers order by (deadline,) created_at, id. Without id in the index PostgreSQL sorted
every queued item on each claim (3 ms at 5,000 queued); with it, the first row is read off the index.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0005_claim_indexes"
down_revision: str | None = "0004_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_items_claim", table_name="items")
    op.create_index("ix_items_claim", "items", ["status", "kind", "deadline", "created_at", "id"])
    op.drop_index("ix_items_queue_age", table_name="items")
    op.create_index("ix_items_queue_age", "items", ["status", "kind", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_queue_age", table_name="items")
    op.create_index("ix_items_queue_age", "items", ["status", "kind", "created_at"])
    op.drop_index("ix_items_claim", table_name="items")
    op.create_index("ix_items_claim", "items", ["status", "kind", "deadline", "created_at"])
