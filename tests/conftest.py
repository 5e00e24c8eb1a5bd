"""Fixtures: ``app`` (once per database backend), ``client``, ``auth``, ``factory``."""
from __future__ import annotations

import os
import tempfile

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from config import TestConfig
from payflow import create_app, stripe_api
from payflow.extensions import db, redis_client

from .factories import Factory
from .faulty_stripe import FaultyStripe
from .services import JWT_SECRET, WEBHOOK_SECRET, StripeStandin, postgres_database, session_redis

BACKENDS = ["sqlite", "postgresql"]
TABLES = (
    "webhook_events",
    "stream_outbox",
    "notifications",
    "ledger_entries",
    "ledger_transactions",
    "ledger_accounts",
    "payment_attempts",
    "refunds",
    "idempotency_keys",
    "payouts",
    "payments",
    "users",
)


@pytest.fixture(autouse=True)
def no_stripe_call_inside_a_transaction():
    """Fails any test during which payflow called Stripe with a database transaction open,
    also when the refusal was caught on its way up (the guard in ``payflow.stripe_api``)."""
    stripe_api.REFUSED_CALLS.clear()
    yield
    refused = list(stripe_api.REFUSED_CALLS)
    stripe_api.REFUSED_CALLS.clear()
    assert not refused, f"Stripe was called inside a database transaction: {refused}"


@pytest.fixture(scope="session")
def redis_server():
    server = session_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stripe_standin():
    """The offline Stripe shared by the whole session (localstripe plus Connect: see stripe_standin/)."""
    server = StripeStandin()
    yield server
    server.close()


@pytest.fixture(scope="session")
def localstripe(stripe_standin):
    """The name the tests used when the offline Stripe was bare localstripe."""
    return stripe_standin


@pytest.fixture(scope="session")
def database_url(request):
    backend = request.param
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="payflow-sqlite-")
        yield f"sqlite:///{directory}/payflow.db"
        return
    try:
        database = postgres_database()
    except Exception as exc:  # no PostgreSQL here: skip, unless this run must have it
        if os.environ.get("PAYFLOW_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required for this run and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield database.url
    database.drop()


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        backends = list(marker.args) if marker else BACKENDS
        metafunc.parametrize("database_url", backends, indirect=True, scope="session")


def make_config(database_url: str, redis_url: str, stripe_url: str, **overrides) -> TestConfig:
    environ = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_SECRET_KEY": "sk_test_payflow",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "JWT_SECRET_KEY": JWT_SECRET,
    }
    return TestConfig(environ, **overrides)


@pytest.fixture(scope="session")
def migrated_app(database_url, redis_server, localstripe):
    app = create_app(make_config(database_url, redis_server.url, localstripe.url))
    with app.app_context():
        upgrade()
    return app


def _clean(app) -> None:
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        db.session.remove()
        redis_client.client.flushdb()


@pytest.fixture
def app(migrated_app):
    _clean(migrated_app)
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app, client):
    return Factory(app, client)


@pytest.fixture
def faulty_stripe(app, localstripe):
    """The app talks to the offline Stripe through a proxy that a test can make slow or silent."""
    from payflow.stripe_api import StripeGateway

    standin = FaultyStripe(localstripe.url)
    reachable = app.extensions["payflow_stripe"]
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", standin.url, timeout=10)
    yield standin
    app.extensions["payflow_stripe"] = reachable
    standin.stop()
