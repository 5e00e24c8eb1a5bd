"""Users: registration and password checks (hashes by werkzeug, scrypt by default)."""
from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import Conflict, Unauthorized
from .extensions import db
from .models import User
from .unit_of_work import atomic

ROLES = ("company", "influencer", "admin")

# Checked against when the email is unknown, so a login takes as long either way
# and response times do not reveal which emails are registered.
_DUMMY_HASH = generate_password_hash("payflow-timing-equaliser")


def _off_the_event_loop(function, *args):
    """Run a CPU-bound hash where it cannot stall the process's other requests.

    Under gevent (the web process) every request and stream of the process shares one OS
    thread: scrypt (about 50 ms of CPU) would stop them all for that long, once per login.
    hashlib's scrypt releases the GIL, so in gevent's thread pool it runs beside the event
    loop. Elsewhere (the worker, the CLI, tests) it runs in place."""
    if has_app_context() and current_app.config.get("PASSWORD_HASHING_IN_THREADS", True) and _under_gevent():
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)


def _under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def hash_password(password: str) -> str:
    return _off_the_event_loop(generate_password_hash, password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """False for an account without a password (a marketplace user signs in at the marketplace)."""
    matches = _off_the_event_loop(check_password_hash, password_hash or _DUMMY_HASH, password)
    return matches and bool(password_hash)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def register(email: str, password: str, role: str, name: str) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role}")
    user = User(email=normalise_email(email), password_hash=hash_password(password), role=role, name=name.strip())
    try:
        with atomic():
            db.session.add(user)
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists", code="email_taken") from exc
    return user


def authenticate(email: str, password: str) -> User:
    user = db.session.scalars(select(User).where(User.email == normalise_email(email))).first()
    stored = user.password_hash if user else None
    db.session.rollback()  # no transaction (nor SQLite's write lock) is held through the hashing
    # An unknown email is checked against a dummy hash: the answer takes as long either way.
    if not password_matches(stored, password) or user is None:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    return user


def find_by_email(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalise_email(email))).first()
