"""dashboard rollups

Revision ID: 0004_dashboard
Revises: 0003_api
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reviewq.models.common  # noqa: F401

revision: str = "0004_dashboard"
down_revision: str | None = "0003_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Histogram buckets, as in reviewq/models/rollups.py (frozen here: a migration never imports
# the live model's edges, which may change in a later revision).
N_ACTIVE_BUCKETS = 22
N_WAIT_BUCKETS = 21


def upgrade() -> None:
    op.create_table(
        "approval_wait_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("settled", sa.Integer(), nullable=False),
        sa.Column("wait_ms_sum", sa.BigInteger(), nullable=False),
        *[sa.Column(f"w{i:02d}", sa.Integer(), nullable=False) for i in range(N_WAIT_BUCKETS)],
        sa.PrimaryKeyConstraint("day", "category"),
    )
    op.create_table(
        "decision_rollups",
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("rejects", sa.Integer(), nullable=False),
        sa.Column("under_2s", sa.Integer(), nullable=False),
        sa.Column("active_ms_sum", sa.BigInteger(), nullable=False),
        *[sa.Column(f"h{i:02d}", sa.Integer(), nullable=False) for i in range(N_ACTIVE_BUCKETS)],
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("reviewer_id", "day", "category"),
    )
    with op.batch_alter_table("decision_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_decision_rollups_day", ["day", "reviewer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decision_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_rollups_day")
    op.drop_table("decision_rollups")
    op.drop_table("approval_wait_rollups")
