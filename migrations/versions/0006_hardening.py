"""hardening: revocable sessions and shared rate counters

Revision ID: 0006_hardening
Revises: 0005_claim_indexes
Create Date: 2026-11-28

users.session_version ends every session of a user at once (logout, password change,
deactivation, role change). rate_counters holds the login throttle and the per-token API rate
limit, shared by every worker process and counted atomically.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reviewq.models.common

revision: str = "0006_hardening"
down_revision: str | None = "0005_claim_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "rate_counters",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("window_start", reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_rate_counters_window_start"), "rate_counters", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_counters_window_start"), table_name="rate_counters")
    op.drop_table("rate_counters")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
