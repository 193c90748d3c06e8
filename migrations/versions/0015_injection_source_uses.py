"""injections: index source_ref, so a planted claim counts a source's uses without scanning every injection

Choosing a planted copy orders its candidates by how often each was planted so far (for anyone);
the only index with source_ref led with reviewer_id, so that count read the whole table.

Revision ID: 0015_injection_source_uses
Revises: 0014_ingest_indexes
Create Date: 2026-11-28
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0015_injection_source_uses"
down_revision: str | None = "0014_ingest_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("injections", schema=None) as batch_op:
        batch_op.create_index("ix_injections_source_ref", ["source_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("injections", schema=None) as batch_op:
        batch_op.drop_index("ix_injections_source_ref")
