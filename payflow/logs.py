"""Log lines: ``key=value`` text by default, one JSON object per line with ``LOG_FORMAT=json``.

Every record carries the context it was written in, when there is one: ``request_id`` (the
request's ``X-Request-ID``, accepted from the client or proxy when it is sane, else made here,
and echoed on the response), ``job_id`` (the RQ job running) and ``event_id`` (the Stripe
event being recorded or applied, bound with ``bind(event_id=...)``). A log aggregator can
then follow one delivery from the webhook request to the job that applied it.
"""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from contextlib import contextmanager

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's or client's request id may look like; anything else is replaced, so a
# header cannot inject line breaks or megabytes into every log line of the request.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"
CONTEXT_FIELDS = ("request_id", "job_id", "event_id")

_bound: contextvars.ContextVar[dict] = contextvars.ContextVar("payflow_log_context", default={})


@contextmanager
def bind(**fields):
    """Add ``fields`` (such as ``event_id``) to every record logged inside the block.

    Context variables are per thread and per greenlet, so concurrent requests and jobs
    never see each other's fields."""
    token = _bound.set({**_bound.get(), **{key: value for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def current_context() -> dict:
    """The context fields of the code running now: request id, job id, bound fields."""
    fields = {}
    if has_request_context():
        request_id = g.get("request_id")
        if request_id:
            fields["request_id"] = request_id
    job = _current_job()
    if job is not None:
        fields["job_id"] = job.id
    fields.update(_bound.get())
    return fields


def _current_job():
    if "rq" not in sys.modules:  # the web process never runs jobs; do not import RQ for it
        return None
    from rq import get_current_job

    try:
        return get_current_job()
    except Exception:  # no connection or job on this thread
        return None


class ContextFilter(logging.Filter):
    """Puts the context fields on each record (as attributes, and as ``context`` for text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_context()
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.context = "".join(f" {key}={value}" for key, value in fields.items())
        return True


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",  # ISO 8601, UTC
        rename_fields={"levelname": "level", "name": "logger"},
        # ``context`` is the text rendering of the same fields; JSON has them as keys.
        reserved_attrs=[*_reserved_attrs(), "context"],
        json_ensure_ascii=False,
    )


def _reserved_attrs() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS

    return list(RESERVED_ATTRS)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``LOG_FORMAT`` (``text`` or ``json``)."""
    if log_format == "json":
        return json_formatter()
    return logging.Formatter(TEXT_FORMAT)


def configure(log_format: str, level: str) -> None:
    """One handler on the root logger, writing to stderr in ``log_format``.

    Left alone when something else (a test runner) already set up the root logger."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    """Give each request an id: the ``X-Request-ID`` it came with, or a new one; echo it."""

    @app.before_request
    def _request_id():
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


class AccessFieldsFilter(logging.Filter):
    """Gives gunicorn's access lines their parts as fields (for JSON): the request id the
    app echoed, method, path, status, duration in milliseconds."""

    ATOMS = {"request_id": "{x-request-id}o", "method": "m", "path": "U", "status": "s", "duration_ms": "M",
             "remote_addr": "h"}

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args if isinstance(record.args, dict) else None
        if record.name == "gunicorn.access" and atoms is not None:
            for field, atom in self.ATOMS.items():
                value = atoms.get(atom)
                if value not in (None, "-"):
                    setattr(record, field, value)
        return True


def gunicorn_logconfig(level: str, *, access: bool = True) -> dict:
    """gunicorn's ``logconfig_dict`` for ``LOG_FORMAT=json``: its own lines (errors and the
    access log, unless ``access`` is off) and the app's, one JSON object per line on stderr."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context", "access"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "payflow.logs.json_formatter"}},
        "filters": {"context": {"()": "payflow.logs.ContextFilter"}, "access": {"()": "payflow.logs.AccessFieldsFilter"}},
        "handlers": {"json": handler},
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["json"], "propagate": False, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO" if access else "CRITICAL", "handlers": ["json"] if access else [],
                                "propagate": False, "qualname": "gunicorn.access"},
        },
    }
