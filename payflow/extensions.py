"""Extension objects, created unbound and attached to an app by ``init_app``."""
from __future__ import annotations

from contextvars import ContextVar

import redis
from flask import Flask, current_app
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# True inside ``unit_of_work.atomic()``: the transaction about to begin will write.
WRITE_TRANSACTION: ContextVar[bool] = ContextVar("payflow_write_transaction", default=False)
migrate = Migrate()
jwt = JWTManager()


class RedisClient:
    """One connection pool per app, opened on first use rather than at import."""

    def init_app(self, app: Flask) -> None:
        # A bounded pool that makes a caller wait for a free connection rather than open
        # another: thousands of streams opening at once must not mean thousands of connections.
        pool = redis.BlockingConnectionPool.from_url(
            app.config["REDIS_URL"],
            max_connections=app.config["REDIS_MAX_CONNECTIONS"],
            timeout=10,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        app.extensions["payflow_redis"] = redis.Redis(connection_pool=pool)

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions["payflow_redis"]


redis_client = RedisClient()


def configure_sqlite(engine) -> None:
    """Make SQLite behave like a database that can hold money.

    A deferred transaction that reads a balance and then writes can collide with another
    writer; so a transaction that will write (one begun inside ``atomic()``) starts with
    ``BEGIN IMMEDIATE``, taking the write lock up front: the SQLite counterpart of the row
    locks used on PostgreSQL. Every other transaction only reads and starts with a plain
    ``BEGIN``: in WAL mode it reads a snapshot and neither waits for the writer nor holds
    it up, so a page that reloads its wallet never queues behind a money move (nor holds
    one up while its response is written). Foreign keys are off by default in SQLite and
    are switched on here.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if WRITE_TRANSACTION.get() else "BEGIN")
