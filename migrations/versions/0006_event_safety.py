"""event safety: flagged events with their reason; attempts that know which one paid

Revision ID: 0006_event_safety
Revises: 0005_money_requests
Create Date: 2026-11-28 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_event_safety'
down_revision = '0005_money_requests'
branch_labels = None
depends_on = None

EVENT_STATUSES = "('received', 'unqueued', 'retrying', 'processed', 'ignored', 'flagged', 'dead')"
PAID_PAYMENT_STATUSES = "('HELD', 'RELEASED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'DISPUTED')"


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('applied', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_check_constraint(op.f('ck_webhook_events_status'), f"status IN {EVENT_STATUSES}")
    # Events applied before this revision were the processed ones; flagged ones were never applied.
    op.execute("UPDATE webhook_events SET applied = true WHERE status = 'processed'")
    op.execute("UPDATE webhook_events SET flag_reason = 'amount_mismatch' WHERE status = 'flagged'")

    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('charge_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('amount_captured', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('refunded_amount', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refund_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('refund_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('refund_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payment_attempts_charge_id'), ['charge_id'])
        batch_op.create_index('ix_payment_attempts_status', ['status'], unique=False)
        batch_op.create_check_constraint(op.f('ck_payment_attempts_status'), "status IN ('open', 'canceled', 'paid', 'duplicate')")
        batch_op.create_check_constraint(op.f('ck_payment_attempts_refunded_not_negative'), 'refunded_amount >= 0')
    # The attempt that paid a paid payment is the payment's current intent.
    op.execute(
        "UPDATE payment_attempts SET status = 'paid' WHERE EXISTS ("
        " SELECT 1 FROM payments WHERE payments.id = payment_attempts.payment_id"
        f" AND payments.status IN {PAID_PAYMENT_STATUSES}"
        " AND payments.stripe_payment_intent_id = payment_attempts.stripe_payment_intent_id)"
    )
    op.execute(
        "UPDATE payment_attempts SET amount_captured = (SELECT amount FROM payments WHERE payments.id = payment_attempts.payment_id),"
        " currency = (SELECT currency FROM payments WHERE payments.id = payment_attempts.payment_id)"
        " WHERE status = 'paid'"
    )


def downgrade():
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_attempts_refunded_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_payment_attempts_status'), type_='check')
        batch_op.drop_index('ix_payment_attempts_status')
        batch_op.drop_constraint(batch_op.f('uq_payment_attempts_charge_id'), type_='unique')
        for column in ('updated_at', 'refund_error', 'refund_id', 'refund_status', 'refunded_amount', 'currency',
                       'amount_captured', 'charge_id', 'status'):
            batch_op.drop_column(column)

    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_webhook_events_status'), type_='check')
        batch_op.drop_column('applied')
        batch_op.drop_column('flag_reason')
