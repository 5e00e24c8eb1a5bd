"""``Idempotency-Key`` on requests that move money (SPEC §4; the model is Stripe's
"Idempotent requests").

A request that carries the header runs at most once per user and key: a row for
(user, key) is inserted and committed before the request runs, under a unique
constraint, so a repeat arriving at the same moment finds it and waits for the first
to answer (then answers the same) instead of running alongside it. The first answer,
status and body, is stored and every repeat gets it, marked ``Idempotent-Replayed:
true``, with nothing run again. The same key with another body, or on another
endpoint, is refused with 409 ``idempotency_key_reused``. A request whose body was
invalid (400) does not keep its key, so the corrected request may use it. Keys are
kept 24 hours, as Stripe keeps its own. Requests without the header run as always.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from functools import wraps

from flask import Response, current_app, make_response, request
from flask_jwt_extended import current_user
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import json_bodies
from .errors import Conflict, InvalidRequest
from .extensions import db
from .models import IdempotencyKey, utcnow
from .unit_of_work import atomic

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
# How long a repeat waits for the first request with its key to answer before it is told
# to try again (409 idempotency_key_in_use); the first may be waiting on Stripe.
WAIT_FOR_FIRST_SECONDS = 10.0
POLL_SECONDS = 0.05


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request a key stands for: method, path and body (JSON compared by value, so key
    order and spacing do not matter, and an empty body is ``{}``)."""
    try:
        # an empty body is the empty object: the endpoints whose body is optional read it so
        canonical = json.dumps(json_bodies.loads(body) if body.strip() else {}, sort_keys=True,
                               separators=(",", ":"))
        content = canonical.encode()
    except (ValueError, RecursionError):  # not JSON, or too deep to compare by value: compared as bytes
        content = body
    return hashlib.sha256(f"{method} {path}\n".encode() + content).hexdigest()


def _valid_key(raw: str) -> str:
    if not 1 <= len(raw) <= 255 or not raw.isascii() or not raw.isprintable():
        raise InvalidRequest(f"{HEADER} must be 1 to 255 printable ASCII characters", code="invalid_idempotency_key")
    return raw


def idempotent(view):
    """Route decorator (below ``authenticated``): honour ``Idempotency-Key`` for this endpoint."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        raw = request.headers.get(HEADER)
        if raw is None:
            return view(*args, **kwargs)
        key = _valid_key(raw)
        user_id = current_user.id
        print_ = fingerprint(request.method, request.path, request.get_data(cache=True))
        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        while not _claim(user_id, key, print_):
            row = _find(user_id, key)
            if row is None:
                continue  # the first request gave the key back (its body was invalid): claim it
            if row.fingerprint != print_:
                raise IdempotencyKeyReused(
                    f"{HEADER} {key!r} was used for a different request; use a new key for a new request"
                )
            if row.response_status is not None:
                return _replay(row)
            if time.monotonic() > deadline:
                raise IdempotencyKeyInUse(f"a request with {HEADER} {key!r} is still in progress; try again shortly")
            time.sleep(POLL_SECONDS)
        return _run_once(user_id, key, view, args, kwargs)

    return wrapper


def _run_once(user_id: str, key: str, view, args, kwargs) -> Response:
    try:
        response = make_response(view(*args, **kwargs))
    except Exception as exc:  # the error's answer is the answer a repeat must get too
        response = make_response(current_app.handle_user_exception(exc))
    db.session.rollback()  # whatever the view left open; the answer is stored in a transaction of its own
    if response.status_code == 400:
        _release(user_id, key)
    else:
        _store(user_id, key, response)
    return response


def _insert():
    dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(IdempotencyKey)


def _claim(user_id: str, key: str, print_: str) -> bool:
    """Insert the key's row and commit it; False when the key already has one."""
    statement = (
        _insert()
        .values(user_id=user_id, key=key, fingerprint=print_, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
    )
    with atomic():
        return db.session.scalar(statement) is not None


def _find(user_id: str, key: str) -> IdempotencyKey | None:
    with atomic():
        row = db.session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        ).first()
        if row is not None:
            db.session.expunge(row)
    return row


def _store(user_id: str, key: str, response: Response) -> None:
    with atomic():
        db.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .values(response_status=response.status_code, response_body=response.get_data(as_text=True),
                    completed_at=utcnow()),
            execution_options={"synchronize_session": False},
        )


def _release(user_id: str, key: str) -> None:
    with atomic():
        db.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key),
            execution_options={"synchronize_session": False},
        )


def _replay(row: IdempotencyKey) -> Response:
    log.info("idempotency.replayed user_id=%s key=%r status=%s", row.user_id, row.key, row.response_status)
    response = Response(row.response_body, status=row.response_status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def prune() -> int:
    """Forget keys older than ``KEEP_FOR``; returns how many."""
    with atomic():
        result = db.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP_FOR),
            execution_options={"synchronize_session": False},
        )
    return result.rowcount
