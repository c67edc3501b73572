"""audit trail: append-only audit_events

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=340), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_created', 'audit_events', ['created_at', 'id'], unique=False)
    op.create_index('ix_audit_events_action_created', 'audit_events', ['action', 'created_at', 'id'], unique=False)
    op.create_index('ix_audit_events_actor_created', 'audit_events', ['actor_id', 'created_at', 'id'], unique=False)
    # Append-only, enforced by the database: any UPDATE or DELETE fails, whoever sends it.
    # (TRUNCATE stays with the table's owner, for test clean-up; production runs the API as a
    # role that does not own the table.)
    op.execute(
        """
        create function audit_events_append_only() returns trigger language plpgsql as $$
        begin
            raise exception 'audit_events is append-only: % refused', tg_op
                using errcode = 'insufficient_privilege';
        end
        $$
        """
    )
    op.execute(
        """
        create trigger audit_events_append_only
            before update or delete on audit_events
            for each statement execute function audit_events_append_only()
        """
    )


def downgrade() -> None:
    op.execute("drop trigger audit_events_append_only on audit_events")
    op.execute("drop function audit_events_append_only()")
    op.drop_index('ix_audit_events_actor_created', table_name='audit_events')
    op.drop_index('ix_audit_events_action_created', table_name='audit_events')
    op.drop_index('ix_audit_events_created', table_name='audit_events')
    op.drop_table('audit_events')
