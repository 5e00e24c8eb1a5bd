"""Accounts: register, login, refresh, logout, and the ``authenticated`` decorator."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, jsonify
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)

from .. import accounts, marketplace_tokens, rate_limits, serializers
from ..errors import Forbidden
from ..extensions import db, jwt
from ..models import User
from . import schemas
from .openapi import operation
from .validation import LoginBody, RegisterBody, parse

bp = Blueprint("auth", __name__, url_prefix="/auth")


@jwt.user_identity_loader
def _identity(user):
    return user.id if isinstance(user, User) else str(user)


@jwt.additional_claims_loader
def _claims(user):
    return {"role": user.role} if isinstance(user, User) else {}


@jwt.user_lookup_loader
def _load_user(_header, payload):
    if marketplace_tokens.is_marketplace_token(payload):
        return marketplace_tokens.user_for(payload)
    return db.session.get(User, payload["sub"])


jwt.decode_key_loader(marketplace_tokens.decode_key)
jwt.token_verification_loader(marketplace_tokens.verify_claims)


def authenticated(*roles: str):
    """Require a valid access token (header or cookie) and, if given, one of ``roles``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request()
            if roles and current_user.role not in roles:
                raise Forbidden(f"this needs the role {' or '.join(roles)}")
            return view(*args, **kwargs)

        wrapper.__payflow_roles__ = roles  # read by the OpenAPI document
        return wrapper

    return decorator


def _session_response(user: User, status: int):
    access = create_access_token(identity=user)
    refresh = create_refresh_token(identity=user)
    response = jsonify({"user": serializers.user(user), "access_token": access, "refresh_token": refresh})
    # End the read transaction now: the rate limiter's counting after the view talks to Redis,
    # and under gevent no request may hold a transaction (SQLite's write lock) across network I/O.
    db.session.rollback()
    # HttpOnly cookies let the browser (and its EventSource) authenticate without
    # script access to the token; the CSRF double-submit cookie guards writes.
    set_access_cookies(response, access)
    set_refresh_cookies(response, refresh)
    return response, status


@bp.post("/register")
@operation("Register a company or influencer account", tag="auth", body=RegisterBody, errors=(409, 429),
           responses={201: schemas.Session},
           description="Sets the HttpOnly access and refresh cookies (and their CSRF cookies) for browsers.")
@rate_limits.guarded("register")
def register():
    body = parse(RegisterBody)
    user = accounts.register(body.email, body.password, body.role, body.name)
    return _session_response(user, 201)


@bp.post("/login")
@operation("Sign in with email and password", tag="auth", body=LoginBody, errors=(401, 429),
           responses={200: schemas.Session},
           description="Sets the HttpOnly access and refresh cookies (and their CSRF cookies) for browsers.")
@rate_limits.guarded("login")
def login():
    body = parse(LoginBody)
    return _session_response(accounts.authenticate(body.email, body.password), 200)


@bp.post("/refresh")
@operation("A new access token from the refresh token", tag="auth", security="refresh",
           responses={200: schemas.AccessToken})
@jwt_required(refresh=True)
def refresh():
    user = db.session.get(User, get_jwt_identity())
    access = create_access_token(identity=user)
    response = jsonify({"access_token": access})
    set_access_cookies(response, access)
    return response


@bp.post("/logout")
@operation("Clear the login cookies", tag="auth", security="none", responses={200: schemas.LoggedOut})
def logout():
    response = jsonify({"loggedOut": True})
    unset_jwt_cookies(response)
    return response


@bp.get("/me")
@operation("The signed-in user", tag="auth", responses={200: schemas.Me})
@authenticated()
def me():
    return jsonify({"user": serializers.user(current_user)})
