"""Rate limits on signing in and registering (Flask-Limiter, counters in Redis).

Two limits guard ``POST /auth/login`` and ``POST /auth/register``:

- per address (the client's IP): every attempt counts, login and register together, so one
  address cannot try passwords or create accounts in bulk (``AUTH_RATE_LIMIT_PER_ADDRESS``);
- per account (the email in the body): failed logins count (a person who types the right
  password is never locked out by their own success) and every registration attempt counts
  (``AUTH_RATE_LIMIT_PER_ACCOUNT``), so a password guesser spreading over many addresses
  is still stopped at the account.

A request over a limit is answered 429 with ``Retry-After`` (seconds) and the JSON error
shape. Nothing else is limited: not the webhook (Stripe must always be heard), not the
stream (browsers reconnect after deploys), not the API. The counters live in Redis, shared
by every process; if Redis is away each process counts in memory until it is back rather
than refusing logins (OWASP: availability of login matters as much as throttling it).
Behind a proxy set ``TRUSTED_PROXY_HOPS`` (Heroku: 1) so the address is the client's, not
the router's.
"""
from __future__ import annotations

import logging

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from prometheus_client import Counter

from .accounts import normalise_email

log = logging.getLogger(__name__)

RATE_LIMITED = Counter("payflow_rate_limited_total", "Requests refused by a rate limit", ["scope"])

def _account_key() -> str:
    """The normalised email of the request's body; the address when there is none."""
    body = request.get_json(silent=True, force=True, cache=True)
    email = body.get("email") if isinstance(body, dict) else None
    if isinstance(email, str) and email.strip():
        return "account:" + normalise_email(email)[:254]
    return "address:" + get_remote_address()


def _per_address():
    from flask import current_app

    return current_app.config["AUTH_RATE_LIMIT_PER_ADDRESS"]


def _per_account():
    from flask import current_app

    return current_app.config["AUTH_RATE_LIMIT_PER_ACCOUNT"]


def _breached(scope: str):
    def on_breach(limit) -> None:
        RATE_LIMITED.labels(scope).inc()
        log.warning("rate_limited scope=%s limit=%s", scope, limit.limit)

    return on_breach


def _failed_login(response) -> bool:
    return response.status_code == 401


def guarded(kind: str):
    """Mark a view as rate-limited: ``login`` or ``register``. The limits are attached per app
    in ``init_app`` (Flask-Limiter keeps its counters' storage per limiter, one per app)."""

    def decorator(view):
        view.__payflow_rate_limited__ = kind
        return view

    return decorator


def _limits_for(limiter: Limiter, kind: str) -> list:
    # One bucket per address for login and register together.
    per_address = limiter.shared_limit(
        _per_address, scope="auth-address", on_breach=_breached("address"),
        error_message="too many sign-in attempts from this address; wait and try again")
    if kind == "login":
        per_account = limiter.limit(
            _per_account, key_func=_account_key, scope="login-account", deduct_when=_failed_login,
            on_breach=_breached("account"), error_message="too many failed sign-ins for this account; wait and try again")
    else:
        per_account = limiter.limit(
            _per_account, key_func=_account_key, scope="register-account", on_breach=_breached("account"),
            error_message="too many attempts to register this email; wait and try again")
    return [per_account, per_address]


def init_app(app: Flask) -> None:
    """Attach the limits to the views marked ``guarded``; call after the blueprints are registered."""
    if app.config["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    limiter = Limiter(key_func=get_remote_address, app=app, default_limits=[])
    app.extensions["payflow_limiter"] = limiter
    for endpoint, view in list(app.view_functions.items()):
        kind = getattr(view, "__payflow_rate_limited__", None)
        if kind:
            for limit in _limits_for(limiter, kind):
                view = limit(view)
            app.view_functions[endpoint] = view
