"""The pieces of a payflow stack, started and stopped on this machine: one place for the tests,
the benchmarks and ``scripts/dev.py``.

- ``free_port()``, ``wait_for_port()``, ``wait_for_http()``: ports (``ports``);
- ``PostgresDatabase``: a throwaway database on a PostgreSQL server (``postgres``);
- ``RedisServer``: a redis-server of our own that may be killed and started again;
  ``SharedRedis``: a database of the machine's Redis leased for one run (``redis_server``);
- ``StripeStandin``: the offline Stripe, ``python -m stripe_standin`` (``standin``);
- ``WebProcess``: gunicorn from ``gunicorn.conf.py``; ``WorkerProcess``: the RQ worker
  (``web``, ``worker``), both as the Procfile runs them;
- ``Stack``: all of these together (``stack``).

Every process is a child in a process group of its own with its output in a log file
(``process``), so that a stop reaches everything it started. Importing this package needs only
the standard library (``redis`` and ``psycopg`` are imported when a Redis or a database is
used), which ``scripts/dev.py`` relies on before its virtual environment is ready.
"""
from .commands import flask_command, migrate, run_flask
from .errors import StartError
from .ports import free_port, http_status, port_answers, port_in_use, wait_for_http, wait_for_port
from .postgres import PostgresDatabase
from .process import ROOT, ManagedProcess, stop_process
from .redis_server import RedisServer, SharedRedis, redis_answers, redis_executable, shared_or_private
from .stack import Stack
from .standin import StripeStandin
from .web import WebProcess, start_web_processes
from .worker import WorkerProcess

__all__ = [
    "ROOT", "ManagedProcess", "PostgresDatabase", "RedisServer", "SharedRedis", "Stack", "StartError", "StripeStandin",
    "WebProcess", "WorkerProcess", "flask_command", "free_port", "http_status", "migrate", "port_answers",
    "port_in_use", "redis_answers", "redis_executable", "run_flask", "shared_or_private", "start_web_processes",
    "stop_process", "wait_for_http", "wait_for_port",
]
