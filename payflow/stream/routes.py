"""``GET /payments/stream`` (Server-Sent Events) and ``POST /payments/stream/token``.

A stream authenticates once, before any byte is sent: with the access token (a
Bearer header or the login cookie) or with a short-lived stream token in
``?token=``. It then lives until the access token behind it expires. It starts
with ``retry:`` and a comment (so proxies pass the headers on at once), replays
what the user missed after ``Last-Event-ID`` (or ``?lastEventId=``), and goes on
with live events and a heartbeat comment every ``SSE_HEARTBEAT_SECONDS``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import time
from datetime import datetime, timezone

import jwt as pyjwt
import redis
from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from flask_jwt_extended import current_user, decode_token, get_jwt, verify_jwt_in_request

from .. import marketplace_tokens, metrics
from ..api import schemas
from ..api.openapi import Header, Raw, operation
from ..api.validation import StreamQuery
from ..errors import PayflowError, Unauthorized
from ..extensions import db, redis_client
from ..models import User
from . import history, sse
from .broker import CLOSE, broker_for

log = logging.getLogger(__name__)

bp = Blueprint("stream", __name__, url_prefix="/payments")

STREAM_AUDIENCE = "payflow:stream"
RECONNECT_MILLISECONDS = 2000


def _stream_token_key() -> str:
    """Stream tokens are signed with a key of their own, derived from ``JWT_SECRET_KEY``.

    flask-jwt-extended does not check ``aud`` unless told to, so a stream token signed
    with the access-token key would pass as an access token everywhere; with its own key
    it is refused there (as an access token is refused here)."""
    secret = current_app.config["JWT_SECRET_KEY"].encode()
    return hmac.new(secret, b"payflow stream token", hashlib.sha256).hexdigest()


def _mint_stream_token(user: User, access_expires_at: int) -> tuple[str, int]:
    ttl = current_app.config["STREAM_TOKEN_TTL_SECONDS"]
    expires_at = min(int(time.time()) + ttl, access_expires_at)
    claims = {"sub": user.id, "aud": STREAM_AUDIENCE, "exp": expires_at, "iat": int(time.time()),
              "access_exp": access_expires_at}
    return pyjwt.encode(claims, _stream_token_key(), algorithm="HS256"), expires_at


def _read_stream_token(token: str) -> tuple[str, int]:
    """(user, when the stream must end); the token is accepted only by this endpoint."""
    try:
        claims = pyjwt.decode(token, _stream_token_key(), algorithms=["HS256"],
                              audience=STREAM_AUDIENCE, options={"require": ["exp", "sub", "aud", "access_exp"]})
    except pyjwt.ExpiredSignatureError as exc:
        raise Unauthorized("the stream token has expired; ask for a new one", code="token_expired") from exc
    except pyjwt.PyJWTError as exc:
        raise Unauthorized("invalid stream token", code="invalid_token") from exc
    return str(claims["sub"]), int(claims["access_exp"])


def _access_token_claims() -> dict:
    """The access token of the request (Bearer header, else the login cookie), verified without
    loading the user: a reconnect must not fail while the database is away (a browser would
    stop for good), and ten thousand open streams must not cost ten thousand queries."""
    token = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
    token = token or request.cookies.get(current_app.config.get("JWT_ACCESS_COOKIE_NAME", "access_token_cookie"))
    if not token:
        raise Unauthorized("authentication required: a Bearer token, the login cookie or ?token=")
    try:
        claims = decode_token(token)
    except pyjwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired", code="token_expired") from exc
    except PayflowError:
        raise
    except Exception as exc:  # PyJWT's and flask-jwt-extended's decode errors alike
        raise Unauthorized("invalid token", code="invalid_token") from exc
    if claims.get("type") != "access" or not claims.get("sub"):
        raise Unauthorized("invalid token: not an access token", code="invalid_token")
    marketplace_tokens.verify_claims({}, claims)
    return claims


def _authenticate() -> tuple[str, int]:
    """(user id, when the stream must end)."""
    token = request.args.get("token")
    if token:
        return _read_stream_token(token)
    claims = _access_token_claims()
    if marketplace_tokens.is_marketplace_token(claims):
        return marketplace_tokens.user_id_for(claims), int(claims["exp"])
    return str(claims["sub"]), int(claims["exp"])


@bp.post("/stream/token")
@operation("A short-lived token for ?token= on the stream", tag="stream", security="user",
           responses={200: schemas.StreamToken},
           description="Valid STREAM_TOKEN_TTL_SECONDS (and never past the access token it was minted from); it "
                       "only opens streams.")
def stream_token():
    verify_jwt_in_request(locations=["headers", "cookies"])
    token, expires_at = _mint_stream_token(current_user, int(get_jwt()["exp"]))
    return jsonify({
        "token": token,
        "expiresAt": datetime.fromtimestamp(expires_at, timezone.utc).isoformat().replace("+00:00", "Z"),
        "expiresIn": max(0, expires_at - int(time.time())),
    })


@bp.get("/stream")
@operation("Live updates of the caller's payments, wallet and payouts (Server-Sent Events)", tag="stream",
           security="stream", query=StreamQuery,
           headers=(Header("Last-Event-ID", "Resume after this event id: missed events are replayed first"),),
           responses={200: Raw("text/event-stream", "payment:update, wallet:update, payout:update and resync "
                                                    "events, and heartbeat comments")},
           description="Ends when the access token behind it expires, or on shutdown; reconnect with "
                       "?lastEventId=.")
def stream():
    user_id, ends_at = _authenticate()
    connection = request.environ.get("gunicorn.socket")
    last_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId") or None
    config = current_app.config
    heartbeat = max(1, config["SSE_HEARTBEAT_SECONDS"])
    broker = broker_for(config["REDIS_URL"])
    client = redis_client.client
    db.session.remove()  # a stream may stay open for hours; it must not hold a database connection

    def generate():
        yield sse.retry(RECONNECT_MILLISECONDS) + sse.comment("payflow stream open")
        # Where a stream without a last id starts: read before subscribing, so that what is
        # published in between is replayed from history below rather than lost.
        resume_from = last_id
        try:
            if resume_from is None:
                resume_from = history.position(client, user_id)
                yield sse.position(resume_from)
            subscription = broker.connect(user_id, connection=connection)
        except redis.RedisError:
            # Never a 503 (a browser would give up): end the stream and let it reconnect.
            yield sse.comment("live updates unavailable; reconnecting")
            return
        try:
            try:
                delivered = history.parse_id(resume_from)
                missed = history.since(client, user_id, resume_from) if delivered else None
                if missed is None:
                    metrics.STREAM_RESYNCS.inc()
                    yield sse.event("resync", '{"reason": "the last event id is no longer in the history"}')
                    yield sse.position(history.position(client, user_id))
                    # Updates published since subscribing are all sent, even those the position
                    # already covers: the client is refetching, and may have fetched too early.
                    delivered, missed = None, []
            except redis.RedisError:
                return
            for entry_id, name, data in missed:
                metrics.STREAM_EVENTS_REPLAYED.inc()
                yield sse.event(name, data, entry_id)
                delivered = history.parse_id(entry_id)
            while True:
                remaining = ends_at - time.time()
                if remaining <= 0:
                    yield sse.comment("access token expired; reconnect with fresh credentials")
                    return
                try:
                    message = subscription.queue.get(timeout=min(heartbeat, remaining))
                except queue.Empty:
                    yield sse.comment("heartbeat")
                    continue
                if message is CLOSE or subscription.closed_reason:
                    yield sse.comment(f"closing: {subscription.closed_reason}")
                    return
                entry_id, name, data = message
                position = history.parse_id(entry_id)
                if delivered is not None and position is not None and position <= delivered:
                    continue  # already sent by the replay
                delivered = position
                metrics.STREAM_EVENTS_DELIVERED.inc()
                yield sse.event(name, data, entry_id)
        finally:
            broker.disconnect(subscription)

    response = Response(stream_with_context(generate()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Connection"] = "keep-alive"
    return response
