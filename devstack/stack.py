"""A whole payflow on this machine: its servers (PostgreSQL, Redis, the offline Stripe) and its
processes (web, worker), started in that order and stopped in the reverse one."""
from __future__ import annotations

import signal
from pathlib import Path

from .commands import migrate
from .postgres import ADMIN_URL, PostgresDatabase
from .process import ManagedProcess
from .redis_server import RedisServer
from .standin import StripeStandin
from .web import WebProcess, start_web_processes
from .worker import WorkerProcess


class Stack:
    """``webs`` web processes and ``workers`` workers over a database, a Redis and a Stripe.

    A server given by URL (``database_url``, ``redis_url``, ``stripe_url``) is used as it is and
    left running at the end. One not given is started here: a throwaway PostgreSQL database on
    ``postgres_admin_url`` (migrated before the processes start), a private Redis (which
    ``redis.kill()`` and ``redis.start()`` take away and bring back empty), an empty offline
    Stripe. ``env`` is the processes' environment; the servers' URLs are set in it here.
    With ``logs`` (a directory) every process logs to ``<name>-<piece>.log`` there, kept;
    otherwise to temporary files. Raises StartError when a piece does not start, after stopping
    what had.
    """

    def __init__(self, env: dict, *, webs: int = 1, workers: int = 1, database_url: str | None = None,
                 redis_url: str | None = None, stripe_url: str | None = None, logs: Path | None = None,
                 name: str = "stack", postgres_admin_url: str = ADMIN_URL):
        self.logs = Path(logs) if logs else None
        self.name = name
        self.database: PostgresDatabase | None = None
        self.redis: RedisServer | None = None
        self.stripe: StripeStandin | None = None
        self.webs: list[WebProcess] = []
        self.workers: list[WorkerProcess] = []
        try:
            if database_url is None:
                self.database = PostgresDatabase(postgres_admin_url, prefix=f"payflow_{name}")
                database_url = self.database.url
            if redis_url is None:
                self.redis = RedisServer(log=self._log("redis"))
                redis_url = self.redis.url
            if stripe_url is None:
                self.stripe = StripeStandin(log=self._log("stripe-standin"))
                stripe_url = self.stripe.url
            self.env = {**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "STRIPE_API_BASE": stripe_url}
            if self.database is not None:
                migrate(self.env)
            self.workers = [WorkerProcess(self.env, name=f"worker{number}", log=self._log(f"worker{number}"))
                            for number in range(workers)]
            self.webs = start_web_processes([self.env] * webs, names=[f"web{number}" for number in range(webs)],
                                            logs=[self._log(f"web{number}") for number in range(webs)])
        except BaseException:
            self.stop()
            raise

    def _log(self, piece: str) -> Path | None:
        return self.logs / f"{self.name}-{piece}.log" if self.logs else None

    @property
    def web_ports(self) -> list[int]:
        return [web.port for web in self.webs]

    @property
    def processes(self) -> list[ManagedProcess]:
        return [*self.webs, *self.workers]

    def log_text(self, limit: int = 5000) -> str:
        """The end of every process's log, each under its name."""
        return "\n".join(f"--- {process.name} ---\n{process.log_text(limit)}" for process in self.processes)

    def stop(self) -> None:
        """A graceful stop of every process at once (SIGTERM), then of the servers started here."""
        self._stop(quick=False)

    def close(self) -> None:
        """As ``stop()``, quicker (workers killed, web processes' quick shutdown), and temporary logs removed."""
        self._stop(quick=True)

    def _stop(self, quick: bool) -> None:
        # every process is told at once, so that their graceful ends overlap
        for process in self.processes:
            process.send_signal(process.quick_signal if quick else signal.SIGTERM)
        for piece in [*self.processes, self.stripe, self.redis]:
            if piece is None:
                continue
            if quick:
                piece.close()
            else:
                piece.stop()
        if self.database is not None:
            self.database.accept_connections()  # dropped even if a run left it refusing connections
            self.database.drop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
