"""canary projection: reservoir of unsampled outputs, weekly budgets, rate boosts, injection provenance

Revision ID: 0008_projection
Revises: 0006_hardening
Create Date: 2026-11-28

The injection source enum gains "projection" and "control" (a VARCHAR(16) without a CHECK, so the
column itself is unchanged).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import reviewq.models.common


revision: str = '0008_projection'
down_revision: str | None = '0006_hardening'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reservoir_outputs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('trace_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reservoir_outputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservoir_outputs_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_reservoir_slot', ['agent', 'category', 'created_at'], unique=False)

    op.create_table('canary_budgets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('week_start', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.Column('canaries', sa.Integer(), nullable=False),
    sa.Column('controls', sa.Integer(), nullable=False),
    sa.Column('expected_claims', sa.Integer(), nullable=False),
    sa.Column('created_at', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reviewer_id', 'week_start', name='uq_canary_budgets_week')
    )
    op.create_table('canary_rate_boosts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('starts_at', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', reviewq.models.common.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('canary_rate_boosts', schema=None) as batch_op:
        batch_op.create_index('ix_canary_rate_boosts_reviewer', ['reviewer_id', 'ends_at'], unique=False)

    with op.batch_alter_table('injections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('original_payload', sa.JSON(), nullable=True))
        # Existing rows were no drill; the default is only for them, the model sets it on insert.
        batch_op.add_column(sa.Column('drill', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_unique_constraint('uq_injections_reviewer_ref', ['reviewer_id', 'source_ref'])
    with op.batch_alter_table('injections', schema=None) as batch_op:
        batch_op.alter_column('drill', server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('injections', schema=None) as batch_op:
        batch_op.drop_constraint('uq_injections_reviewer_ref', type_='unique')
        batch_op.drop_column('drill')
        batch_op.drop_column('original_payload')
        batch_op.drop_column('template')
        batch_op.drop_column('source_ref')

    with op.batch_alter_table('canary_rate_boosts', schema=None) as batch_op:
        batch_op.drop_index('ix_canary_rate_boosts_reviewer')

    op.drop_table('canary_rate_boosts')
    op.drop_table('canary_budgets')
    with op.batch_alter_table('reservoir_outputs', schema=None) as batch_op:
        batch_op.drop_index('ix_reservoir_slot')
        batch_op.drop_index(batch_op.f('ix_reservoir_outputs_created_at'))

    op.drop_table('reservoir_outputs')
