"""``POST /payments/webhook``: verify, record durably, queue, answer.

The request does no domain work: Stripe waits on this answer, and every
millisecond here is one Stripe spends holding a connection. What could fail
later (a payment not yet committed, a database lock) is the job's business.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import MethodNotAllowed

from .. import logs, metrics
from ..api import schemas
from ..api.openapi import Header, operation
from ..extensions import db
from . import inbox
from .signature import InvalidSignature, verify

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


def _reject(status: int, reason: str, message: str):
    metrics.WEBHOOKS_REJECTED.labels(reason).inc()
    log.warning("webhook.rejected reason=%s detail=%r", reason, message)
    return jsonify({"error": {"code": reason, "message": message}}), status


def _parse(payload: str) -> dict:
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise ValueError("the body is not a JSON object")
    if not isinstance(event.get("id"), str) or not 0 < len(event["id"]) <= 255:
        raise ValueError("the event has no id (a string of at most 255 characters)")
    if not isinstance(event.get("type"), str) or not 0 < len(event["type"]) <= 100:
        raise ValueError("the event has no type (a string of at most 100 characters)")
    return event


@bp.post("/payments/webhook")
@operation("Stripe's webhook: events are verified, recorded, queued and answered", tag="webhooks",
           security="none", body=schemas.StripeEvent, errors=(400, 413, 503),
           headers=(Header("Stripe-Signature", "t=<timestamp>,v1=<HMAC-SHA256 of the body>", required=True),),
           responses={200: schemas.WebhookReceived},
           description="Signed with one of STRIPE_WEBHOOK_SECRET's secrets, within WEBHOOK_TOLERANCE_SECONDS.")
def receive():
    secrets = current_app.config["STRIPE_WEBHOOK_SECRETS"]
    if not secrets:
        log.error("webhook refused: STRIPE_WEBHOOK_SECRET is not set, so no event can be verified")
        return _reject(503, "webhook_not_configured", "webhook signing secret is not configured")
    raw = request.get_data(cache=False)  # 413 above MAX_CONTENT_LENGTH
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "invalid_encoding", "the body is not UTF-8")
    try:
        verify(payload, request.headers.get("Stripe-Signature"), secrets, current_app.config["WEBHOOK_TOLERANCE_SECONDS"])
    except InvalidSignature as exc:
        return _reject(400, exc.reason, exc.message)
    try:
        event = _parse(payload)
    except ValueError as exc:
        return _reject(400, "invalid_event", f"not a Stripe event: {exc}")

    with logs.bind(event_id=event["id"]):
        return _record(event, payload)


def _record(event: dict, payload: str):
    try:
        created = inbox.record_and_queue(event, payload)
    except (SQLAlchemyError, inbox.RecordFailed) as exc:
        db.session.rollback()
        log.error("webhook.unrecorded event_id=%s type=%s error=%s", event["id"], event["type"], type(exc).__name__)
        return _reject(503, "database_unavailable", "the event could not be recorded; retry later")
    if not created:
        metrics.WEBHOOKS_DUPLICATE.inc()
        log.info("webhook.duplicate event_id=%s type=%s", event["id"], event["type"])
        return jsonify({"received": True, "eventType": event["type"], "duplicate": True})
    metrics.WEBHOOKS_RECEIVED.labels(event["type"]).inc()
    log.info("webhook.received event_id=%s type=%s", event["id"], event["type"])
    return jsonify({"received": True, "eventType": event["type"]})


@bp.route("/payments/webhook", methods=["GET", "PUT", "PATCH", "DELETE"])
@operation("Only POST is accepted", tag="webhooks", security="none", errors=(405,))
def wrong_method():
    raise MethodNotAllowed(valid_methods=["POST"])
