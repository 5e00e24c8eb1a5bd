"""related id on webhook events

Revision ID: 0003_webhook_related_id
Revises: 0002_webhook_inbox
Create Date: 2026-11-27 04:12:42.549001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_webhook_related_id'
down_revision = '0002_webhook_inbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('related_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_webhook_events_related_id'), ['related_id'], unique=False)



def downgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_related_id'))
        batch_op.drop_column('related_id')

