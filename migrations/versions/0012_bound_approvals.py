"""approvals bound to the exact tool call: digest, validity window, single use

Revision ID: 0012_bound_approvals
Revises: 0013_notify
Create Date: 2026-11-28

Existing approvals get the digest of the tool call in their payload and the default validity
window, so an approval granted before this migration can still be consumed once.
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reviewq.models.common
from reviewq.tool_digest import tool_call_digest

revision: str = "0012_bound_approvals"
down_revision: str | None = "0013_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_VALID_FOR_S = 900


def _digest(payload) -> str | None:
    if isinstance(payload, str):
        payload = json.loads(payload)
    call = (payload or {}).get("tool_call")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    try:
        return tool_call_digest(call["name"], call.get("args") or {})
    except ValueError:
        return None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("tool_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column("valid_for_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("consumed_at", reviewq.models.common.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("tool_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT approvals.id, items.id, items.payload FROM approvals JOIN items ON items.id = approvals.item_id"
    )).all()
    for approval_id, item_id, payload in rows:
        digest = _digest(payload)
        conn.execute(sa.text("UPDATE approvals SET tool_digest = :d, valid_for_s = :v WHERE id = :id"),
                     {"d": digest, "v": DEFAULT_VALID_FOR_S, "id": approval_id})
        conn.execute(sa.text("UPDATE decisions SET tool_digest = :d WHERE item_id = :item"),
                     {"d": digest, "item": item_id})


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("tool_digest")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("consumed_at")
        batch.drop_column("valid_for_s")
        batch.drop_column("tool_digest")
