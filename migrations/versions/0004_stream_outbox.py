"""stream outbox

Revision ID: 0004_stream_outbox
Revises: 0003_webhook_related_id
Create Date: 2026-11-27 05:13:34.209765

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_stream_outbox'
down_revision = '0003_webhook_related_id'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stream_outbox',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stream_outbox_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stream_outbox'))
    )
    with op.batch_alter_table('stream_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_stream_outbox_published_at_created_at', ['published_at', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('stream_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_stream_outbox_published_at_created_at')

    op.drop_table('stream_outbox')
