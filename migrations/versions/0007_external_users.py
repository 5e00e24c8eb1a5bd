"""marketplace users: external subject and issuer; no email or password needed

Revision ID: 0007_external_users
Revises: 0005_money_requests
Create Date: 2026-11-30 03:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_external_users'
down_revision = '0005_money_requests'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_issuer', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('external_subject', sa.String(length=255), nullable=True))
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)
        batch_op.alter_column('password_hash', existing_type=sa.String(length=255), nullable=True)
        batch_op.create_unique_constraint('uq_users_external_issuer_external_subject',
                                          ['external_issuer', 'external_subject'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_external_issuer_external_subject', type_='unique')
        batch_op.alter_column('password_hash', existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
        batch_op.drop_column('external_subject')
        batch_op.drop_column('external_issuer')
