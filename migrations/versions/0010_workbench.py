"""the lead's workbench: overturns, overlap reviews, judge verdicts, review tokens

Revision ID: 0010_workbench
Revises: 0012_bound_approvals
Create Date: 2026-11-28
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reviewq.models.common

revision: str = "0010_workbench"
down_revision: str | None = "0012_bound_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = reviewq.models.common.UTCDateTime


def _verdict() -> sa.Enum:
    return sa.Enum("approve", "reject", name="verdict", native_enum=False, length=16)


def upgrade() -> None:
    op.create_index("ix_items_created", "items", ["created_at", "id"])
    op.create_index("ix_items_decided", "items", ["decided_at", "id"])
    op.create_index("ix_items_trace", "items", ["trace_id"])
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id"])
    op.create_table(
        "overturns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("previous_verdict", _verdict(), nullable=True),
        sa.Column("verdict", _verdict(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("agent_acted", sa.Boolean(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["lead_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_overturns_item", "overturns", ["item_id", "at"])
    op.create_table(
        "overlap_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("copy_item_id", sa.Integer(), nullable=False),
        sa.Column("first_reviewer_id", sa.Integer(), nullable=False),
        sa.Column("second_reviewer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("adjudicated_verdict", _verdict(), nullable=True),
        sa.Column("adjudicated_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("adjudicated_by", sa.Integer(), nullable=True),
        sa.Column("adjudicated_at", UTC(), nullable=True),
        sa.Column("adjudication_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["adjudicated_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["copy_item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["first_reviewer_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["second_reviewer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("copy_item_id"),
        sa.UniqueConstraint("item_id"),
    )
    op.create_index("ix_overlap_reviews_created", "overlap_reviews", ["created_at"])
    op.create_table(
        "judge_verdicts",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("verdict", _verdict(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        # In place: a batch copy would DROP api_tokens, which items and approvals reference, and
        # SQLite refuses that with foreign keys on (they cannot be switched off inside a transaction).
        op.execute("ALTER TABLE api_tokens ADD COLUMN reviewer_id INTEGER "
                   "CONSTRAINT fk_api_tokens_reviewer_id_users REFERENCES users (id)")
    else:
        op.add_column("api_tokens", sa.Column("reviewer_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_api_tokens_reviewer_id_users", "api_tokens", "users", ["reviewer_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        if op.get_bind().dialect.name != "sqlite":  # SQLite's inline constraint goes with its column
            batch_op.drop_constraint("fk_api_tokens_reviewer_id_users", type_="foreignkey")
        batch_op.drop_column("reviewer_id")
    op.drop_table("judge_verdicts")
    op.drop_index("ix_overlap_reviews_created", table_name="overlap_reviews")
    op.drop_table("overlap_reviews")
    op.drop_index("ix_overturns_item", table_name="overturns")
    op.drop_table("overturns")
    op.drop_index("ix_audit_events_object", table_name="audit_events")
    op.drop_index("ix_items_trace", table_name="items")
    op.drop_index("ix_items_decided", table_name="items")
    op.drop_index("ix_items_created", table_name="items")
