"""The marketplace's own access tokens, accepted beside payflow's (SPEC section 10).

With ``JWT_ISSUER`` and a key (``JWT_PUBLIC_KEY``, or ``JWT_JWKS_URL`` for a key set fetched
with PyJWT's ``PyJWKClient`` and cached), a token whose ``iss`` is the marketplace is checked
with the marketplace's public key and algorithms (``JWT_ALGORITHM``: RS256, ES256, ...), its
``aud`` against ``JWT_AUDIENCE`` when that is set, and it must expire (``exp``). Any other
token is one of payflow's own: HS256 with ``JWT_SECRET_KEY``. The algorithm is taken from
the configuration for each kind, never from the token, so a token cannot choose how it is
checked (the "alg confusion" attack).

``sub`` is the marketplace's user id. payflow keeps its own user for it, created on first
sight with the role from ``JWT_ROLE_CLAIM`` (default ``role``) and the ``name`` and
``email`` claims; the unique ``(external_issuer, external_subject)`` makes that happen once
however many first requests race (insert-or-get). A later token naming another role is
refused (403): payments and wallets hang on the role a user started with.

flask-jwt-extended does the decoding (``decode_key_loader`` picks the key,
``token_verification_loader`` checks the claims, ``user_lookup_loader`` maps the user), so
headers, cookies and the stream accept these tokens exactly as they accept payflow's.
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

import jwt as pyjwt
from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .errors import Forbidden, PayflowError, Unauthorized
from .extensions import db
from .ids import new_id
from .models import User, utcnow
from .unit_of_work import atomic

log = logging.getLogger(__name__)

ROLES = ("company", "influencer", "admin")
# The marketplace's user id, stored and compared as text: no NUL (PostgreSQL cannot hold it) and no
# other control character (log lines, headers).
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
JWKS_CACHE_SECONDS = 300


class KeysUnavailable(PayflowError):
    """The marketplace's key set could not be fetched: not the caller's fault, retry later."""

    status, code = 503, "marketplace_keys_unavailable"


def is_marketplace_token(claims: dict) -> bool:
    issuer = current_app.config.get("MARKETPLACE_JWT_ISSUER")
    return bool(issuer) and claims.get("iss") == issuer


def decode_key(header: dict, claims: dict):
    """The key to check a token's signature with (flask-jwt-extended's ``decode_key_loader``).

    Raises ``jwt.InvalidAlgorithmError`` when the token's ``alg`` is not the one configured for
    its kind, and ``jwt.InvalidTokenError`` when the JWKS has no key for its ``kid``."""
    algorithm = header.get("alg")
    config = current_app.config
    if is_marketplace_token(claims):
        if algorithm not in config["MARKETPLACE_JWT_ALGORITHMS"]:
            raise pyjwt.InvalidAlgorithmError(f"the marketplace's tokens are signed with "
                                              f"{', '.join(config['MARKETPLACE_JWT_ALGORITHMS'])}, not {algorithm}")
        if config["MARKETPLACE_JWT_PUBLIC_KEY"]:
            return config["MARKETPLACE_JWT_PUBLIC_KEY"]
        return _jwks_key(header.get("kid"))
    if algorithm != "HS256":
        raise pyjwt.InvalidAlgorithmError(f"payflow's own tokens are HS256, not {algorithm}")
    return config["JWT_SECRET_KEY"]


def _jwks_client() -> pyjwt.PyJWKClient:
    app = current_app._get_current_object()
    client = app.extensions.get("payflow_jwks_client")
    if client is None:
        client = app.extensions["payflow_jwks_client"] = pyjwt.PyJWKClient(
            app.config["MARKETPLACE_JWT_JWKS_URL"], cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=5)
    return client


def _jwks_key(kid: str | None):
    if not kid:
        raise pyjwt.InvalidTokenError("the token has no kid to find its key in the marketplace's JWKS")
    try:
        return _jwks_client().get_signing_key(kid).key
    except pyjwt.PyJWKClientConnectionError as exc:
        log.error("marketplace JWKS unreachable: %s", exc)
        raise KeysUnavailable("the marketplace's signing keys cannot be fetched; retry later") from exc
    except pyjwt.PyJWKClientError as exc:
        raise pyjwt.InvalidTokenError(f"no key {kid!r} in the marketplace's JWKS") from exc


def verify_claims(_header: dict, claims: dict) -> bool:
    """flask-jwt-extended's ``token_verification_loader``: what PyJWT does not check of a
    marketplace token (its audience, that it expires, who and what it names). Raises
    ``Unauthorized`` with the reason; payflow's own tokens pass through."""
    if not is_marketplace_token(claims):
        return True
    audience = current_app.config["MARKETPLACE_JWT_AUDIENCE"]
    if audience:
        given = claims.get("aud")
        given = [given] if isinstance(given, str) else given if isinstance(given, list) else []
        if not set(given) & set(audience):
            raise Unauthorized("invalid token: not meant for this audience", code="invalid_token")
    if not isinstance(claims.get("exp"), (int, float)):
        raise Unauthorized("invalid token: a marketplace token must expire (exp)", code="invalid_token")
    if not isinstance(claims.get("sub"), str) or not _SUBJECT.fullmatch(claims["sub"]):
        raise Unauthorized("invalid token: sub must name the marketplace's user (1 to 255 characters, no control "
                           "characters)", code="invalid_token")
    # flask-jwt-extended reads a token without a type as an access token; one that says otherwise
    # (the marketplace's own refresh tokens) must never be taken for payflow's refresh token.
    if claims.get("type", "access") != "access":
        raise Unauthorized("invalid token: only the marketplace's access tokens are accepted", code="invalid_token")
    role(claims)
    return True


def role(claims: dict) -> str:
    name = current_app.config["MARKETPLACE_JWT_ROLE_CLAIM"]
    value = claims.get(name)
    if value not in ROLES:
        raise Unauthorized(f"invalid token: the {name!r} claim must be one of {', '.join(ROLES)}", code="invalid_token")
    return value


KNOWN_USERS_KEPT = 10_000
_known_lock = threading.Lock()


def _known() -> OrderedDict:
    """(issuer, subject) -> payflow user id, per app: it never changes once made, so a process
    remembers it and a stream's reconnect does not need the database."""
    return current_app.extensions.setdefault("payflow_marketplace_users", OrderedDict())


def user_id_for(claims: dict) -> str:
    """payflow's user id for a marketplace token's subject; the user is made on first sight."""
    key = (claims["iss"], claims["sub"])
    known = _known()
    with _known_lock:
        if key in known:
            known.move_to_end(key)
            return known[key]
    return user_for(claims).id


def user_for(claims: dict) -> User:
    """payflow's user for a marketplace token (``user_lookup_loader``), made on first sight.

    Raises ``Forbidden`` when the token names another role than the user has."""
    issuer, subject = claims["iss"], claims["sub"]
    wanted = role(claims)
    user = _find(issuer, subject) or _create(issuer, subject, wanted, claims)
    known = _known()
    with _known_lock:
        known[(issuer, subject)] = user.id
        while len(known) > KNOWN_USERS_KEPT:
            known.popitem(last=False)
    if user.role != wanted:
        raise Forbidden(f"this account is a {user.role} here; the token says {wanted}", code="role_mismatch")
    return user


def _find(issuer: str, subject: str) -> User | None:
    return db.session.scalars(
        select(User).where(User.external_issuer == issuer, User.external_subject == subject)).first()


def _insert():
    return (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(User)


def _claimed_email(claims: dict) -> str | None:
    email = claims.get("email")
    if isinstance(email, str) and 3 <= len(email) <= 254 and "@" in email and "\x00" not in email:
        return email.strip().lower()
    return None


def _create(issuer: str, subject: str, wanted_role: str, claims: dict) -> User:
    """Insert-or-get: ``ON CONFLICT DO NOTHING``, then read whoever won. An email that already
    belongs to another account is left out rather than linked: a token naming an email does not
    prove its owner is the person who registered it here."""
    email = _claimed_email(claims)
    name = claims.get("name") if isinstance(claims.get("name"), str) and claims["name"].strip() else None
    name = (name or (email.split("@")[0] if email else subject)).strip().replace("\x00", "")[:200]
    for candidate_email in ([email, None] if email else [None]):
        now = utcnow()
        with atomic():
            db.session.execute(_insert().values(
                id=new_id("usr"), email=candidate_email, password_hash=None, role=wanted_role, name=name,
                external_issuer=issuer, external_subject=subject, created_at=now, updated_at=now,
            ).on_conflict_do_nothing())
        user = _find(issuer, subject)
        if user is not None:
            if user.email is None and candidate_email is None and email:
                log.info("marketplace user %s: email %s belongs to another account, not linked", user.id, email)
            return user
    raise RuntimeError(f"could not create or find the user for {issuer} {subject}")  # pragma: no cover

