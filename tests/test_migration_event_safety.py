"""Migration 0006: payments paid before it know which attempt paid them, and events keep their meaning."""
from __future__ import annotations

import tempfile

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from payflow import create_app
from payflow.extensions import db

from .conftest import make_config
from .services import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request):
    if request.param == "sqlite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='payflow-migration-')}/payflow.db"
        return
    try:
        database = postgres_database()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield database.url
    database.drop()


def test_upgrading_marks_the_paying_attempt_of_paid_payments_and_the_applied_events(fresh_database, redis_server,
                                                                                     localstripe):
    app = create_app(make_config(fresh_database, redis_server.url, localstripe.url))
    with app.app_context():
        upgrade(revision="0004_stream_outbox")
        rows = [
            "INSERT INTO users (id, email, password_hash, role, name, created_at, updated_at) VALUES "
            "('usr_c', 'c@x.test', 'x', 'company', 'C', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
            "('usr_i', 'i@x.test', 'x', 'influencer', 'I', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO payments (id, company_id, influencer_id, amount, currency, description, status, fee_bps, "
            "fee_amount, refunded_amount, disputed_amount, stripe_payment_intent_id, created_at, updated_at) VALUES "
            "('pay_held', 'usr_c', 'usr_i', 5000, 'usd', '', 'HELD', 1000, 0, 0, 0, 'pi_b', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
            "('pay_open', 'usr_c', 'usr_i', 5000, 'usd', '', 'PENDING', 1000, 0, 0, 0, 'pi_c', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO payment_attempts (payment_id, stripe_payment_intent_id, created_at) VALUES "
            "('pay_held', 'pi_a', CURRENT_TIMESTAMP), ('pay_held', 'pi_b', CURRENT_TIMESTAMP), "
            "('pay_open', 'pi_c', CURRENT_TIMESTAMP)",
            "INSERT INTO webhook_events (id, type, payload, status, attempts, received_at) VALUES "
            "('evt_done', 't.x', '{}', 'processed', 1, CURRENT_TIMESTAMP), "
            "('evt_flag', 't.x', '{}', 'flagged', 1, CURRENT_TIMESTAMP), "
            "('evt_skip', 't.x', '{}', 'ignored', 1, CURRENT_TIMESTAMP)",
        ]
        for row in rows:
            db.session.execute(text(row))
        db.session.commit()

        upgrade(revision="0006_event_safety")

        attempts = dict(db.session.execute(text(
            "SELECT stripe_payment_intent_id, status FROM payment_attempts")).all())
        assert attempts == {"pi_a": "open", "pi_b": "paid", "pi_c": "open"}
        events = {row[0]: (bool(row[1]), row[2]) for row in db.session.execute(text(
            "SELECT id, applied, flag_reason FROM webhook_events"))}
        assert events == {"evt_done": (True, None), "evt_flag": (False, "amount_mismatch"), "evt_skip": (False, None)}

        db.session.rollback()
        downgrade(revision="0004_stream_outbox")
        assert db.session.execute(text("SELECT count(*) FROM payment_attempts")).scalar() == 3
        db.session.remove()
        db.engine.dispose()
