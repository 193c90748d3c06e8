"""agent API: approvals, webhook outbox

Revision ID: 0003_api
Revises: 0002_canaries
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import reviewq.models.common  # noqa: F401

revision: str = "0003_api"
down_revision: str | None = "0002_canaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reserved in the chain; the tables of this capability land here.
    pass


def downgrade() -> None:
    pass
