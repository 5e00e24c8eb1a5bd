"""A throwaway database on a PostgreSQL server: created with a name of its own, dropped at the end."""
from __future__ import annotations

import uuid

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresDatabase:
    """A new, empty database ``<prefix>_<random>`` on the server of ``admin_url``.

    Its own name means runs side by side never see each other's rows, and the databases a
    person works in are left alone. ``url`` is its connection URL; ``drop()`` removes it, ending
    any connection still open. Raises ``psycopg.OperationalError`` when the server cannot be
    reached (within 3 seconds).
    """

    def __init__(self, admin_url: str = ADMIN_URL, *, prefix: str = "payflow"):
        self.admin_url = admin_url
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{admin_url.rsplit('/', 1)[0]}/{self.name}"

    def _execute(self, statement: str, params: tuple = ()) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(statement, params)

    def refuse_connections(self) -> None:
        """The database refuses new connections and drops the ones it has, as during a failover."""
        self._execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))

    def accept_connections(self) -> None:
        self._execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
