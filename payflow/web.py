"""The browser dashboard at ``/`` and the one lookup it needs beyond the JSON API.

The page is static HTML plus ES modules under ``/static/`` (``dashboard.js`` on top of
``payflow-client.js`` and ``toasts.js``); it talks to the same JSON API and stream as any
other client, authenticated by the HttpOnly login cookies.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select

from . import accounts
from .api import schemas
from .api.auth import authenticated
from .api.openapi import Raw, operation
from .api.validation import InfluencerQuery
from .api.payments import accepts_test_cards
from .errors import InvalidRequest, NotFound
from .extensions import db
from .models import User
from .money import exponents

bp = Blueprint("web", __name__)

STRIPE_JS = "https://js.stripe.com"


def _content_security_policy() -> str:
    # Stripe.js and its card iframes are the only third party the page may load.
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {STRIPE_JS}",
        f"frame-src {STRIPE_JS} https://hooks.stripe.com",
        "connect-src 'self' https://api.stripe.com",
        "img-src 'self' data:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


@bp.get("/")
@operation("The dashboard (HTML)", tag="dashboard", responses={200: Raw("text/html", "The dashboard page")})
def dashboard():
    config = current_app.config
    client_config = {
        "stripePublishableKey": config.get("STRIPE_PUBLISHABLE_KEY"),
        "testCards": accepts_test_cards(config),
        # how many digits each currency's minor unit has: the browser formats with these
        "currencies": exponents(),
    }
    response = current_app.make_response(render_template("index.html", client_config=client_config))
    response.headers["Content-Security-Policy"] = _content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/influencers")
@operation("Find an influencer by exact email", tag="dashboard", query=InfluencerQuery, errors=(404,),
           responses={200: schemas.InfluencerRef})
@authenticated("company")
def find_influencer():
    """``?email=`` → ``{id, name}`` of that influencer: how a company names whom it pays.

    Exact address only (no search, no listing), and only influencers are found."""
    email = (request.args.get("email") or "").strip()
    if not email or len(email) > 254:
        raise InvalidRequest("give the influencer's email as ?email=", code="invalid_request")
    user = db.session.scalars(
        select(User).where(User.email == accounts.normalise_email(email), User.role == "influencer")
    ).first()
    if user is None:
        raise NotFound(f"no influencer with the email {email}")
    return jsonify({"id": user.id, "name": user.name})
