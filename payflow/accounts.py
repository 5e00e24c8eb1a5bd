"""Users: registration and password checks (hashes by werkzeug, scrypt by default)."""
from __future__ import annotations

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


def normalise_email(email: str) -> str:
    return email.strip().lower()


def register(email: str, password: str, role: str, name: str) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role}")
    user = User(email=normalise_email(email), password_hash=generate_password_hash(password), role=role, name=name.strip())
    try:
        with atomic():
            db.session.add(user)
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists", code="email_taken") from exc
    return user


def authenticate(email: str, password: str) -> User:
    user = db.session.scalars(select(User).where(User.email == normalise_email(email))).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    if not check_password_hash(user.password_hash, password):
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    return user


def find_by_email(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalise_email(email))).first()
