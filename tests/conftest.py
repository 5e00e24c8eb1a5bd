"""Fixtures: ``app`` (once per database backend), ``client``, ``auth``, ``factory``."""
from __future__ import annotations

import os
import tempfile

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from config import TestConfig
from payflow import create_app
from payflow.extensions import db, redis_client

from .factories import Factory
from .services import JWT_SECRET, WEBHOOK_SECRET, PostgresDatabase, RedisServer, StripeStandin

BACKENDS = ["sqlite", "postgresql"]
TABLES = (
    "webhook_events",
    "stream_outbox",
    "notifications",
    "ledger_entries",
    "ledger_transactions",
    "ledger_accounts",
    "payment_attempts",
    "payouts",
    "payments",
    "users",
)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stripe_standin():
    """The offline Stripe shared by the whole session (localstripe plus Connect: see stripe_standin/)."""
    server = StripeStandin()
    yield server
    server.stop()


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
        database = PostgresDatabase()
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
