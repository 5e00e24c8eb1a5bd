"""The real servers the tests talk to: PostgreSQL, Redis and the offline Stripe (``stripe_standin``).

Each is found or started once per test session, with the pieces of ``devstack``. Nothing here
is a mock: when a server cannot be had, the tests that need it are skipped (or, with
``PAYFLOW_TEST_REQUIRE_POSTGRES=1`` as in CI, the run fails).
"""
from __future__ import annotations

import os

from devstack import ROOT, PostgresDatabase, RedisServer, SharedRedis, StripeStandin, free_port, shared_or_private

__all__ = ["JWT_SECRET", "ROOT", "WEBHOOK_SECRET", "StripeStandin", "free_port", "postgres_database",
           "process_environment", "session_redis"]

# The secrets of every app and process the tests start, so that tokens and signatures made
# in the test process are valid in the servers it starts.
JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
WEBHOOK_SECRET = "whsec_test_payflow"


def process_environment(database_url: str, redis_url: str, stripe_url: str, **overrides) -> dict:
    """The environment of a payflow web or worker process that a test starts."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PAYFLOW_", "GUNICORN", "STRIPE_"))}
    env.update(
        PAYFLOW_ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        STRIPE_API_BASE=stripe_url,
        STRIPE_SECRET_KEY="sk_test_payflow",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        JWT_SECRET_KEY=JWT_SECRET,
        ACCESS_LOG="",
        PYTHONUNBUFFERED="1",
        # A developer's .env (written by scripts/dev.py run) must not reach the servers tests start.
        FLASK_SKIP_DOTENV="1",
        # Every client of these servers is 127.0.0.1: the sign-in limits are tested on their own.
        AUTH_RATE_LIMIT_PER_ADDRESS="10000 per minute",
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def session_redis() -> SharedRedis | RedisServer:
    """The machine's Redis (``PAYFLOW_TEST_REDIS_URL``) with a database number of the session's
    own, so that test runs side by side never flush each other's queues; else a private one."""
    return shared_or_private(os.environ.get("PAYFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379"))


def postgres_database() -> PostgresDatabase:
    """A throwaway database on the machine's PostgreSQL (``PAYFLOW_TEST_POSTGRES_URL``, the
    admin connection); the ``test`` database is left alone."""
    admin_url = os.environ.get("PAYFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return PostgresDatabase(admin_url, prefix="payflow_test")
