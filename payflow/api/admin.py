"""Operators' API (role ``admin``): the recorded webhook events, flagged ones first of all.

``GET /admin/webhook-events?status=flagged&limit=&cursor=`` lists recorded events newest
first, paginated like every list (``{"items": [...], "nextCursor": ...}``). Events are
ordered by when they were (last) queued, then by id, so the cursor is that pair.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request
from sqlalchemy import and_, or_, select

from ..errors import InvalidRequest
from ..extensions import db
from ..models import WebhookEvent
from ..pagination import decode_cursor, encode_cursor, parse_limit
from ..serializers import iso
from ..webhooks import lifecycle
from . import schemas
from .auth import authenticated
from .openapi import operation
from .validation import WebhookEventsQuery

bp = Blueprint("admin", __name__, url_prefix="/admin")

_SEPARATOR = "|"


def webhook_event(event: WebhookEvent) -> dict:
    return {
        "id": event.id,
        "type": event.type,
        "status": event.status,
        "flagReason": event.flag_reason,
        "applied": event.applied,
        "outcome": event.outcome,
        "lastError": event.last_error,
        "attempts": event.attempts,
        "account": event.account,
        "objectId": event.object_id,
        "relatedId": event.related_id,
        "stripeCreatedAt": iso(event.stripe_created_at),
        "receivedAt": iso(event.received_at),
        "processedAt": iso(event.processed_at),
        "nextAttemptAt": iso(event.next_attempt_at),
    }


def _after(cursor: str):
    """The rows after ``cursor`` in newest-first order."""
    moment, _, event_id = decode_cursor(cursor).partition(_SEPARATOR)
    try:
        received_at = datetime.fromisoformat(moment)
    except ValueError as exc:
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor") from exc
    if received_at.tzinfo is None or not event_id:
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor")
    return or_(
        WebhookEvent.received_at < received_at,
        and_(WebhookEvent.received_at == received_at, WebhookEvent.id < event_id),
    )


@bp.get("/webhook-events")
@operation("Recorded Stripe events, newest first (operators)", tag="operations", query=WebhookEventsQuery,
           errors=(400,), responses={200: schemas.WebhookEventPage},
           description="?status=flagged lists the events held for an operator, each with its flagReason.")
@authenticated("admin")
def webhook_events():
    status = request.args.get("status")
    statuses = {item.value for item in lifecycle.Status}
    if status is not None and status not in statuses:
        raise InvalidRequest(f"status must be one of {', '.join(sorted(statuses))}", code="invalid_status")
    limit = parse_limit(request.args.get("limit"))
    query = select(WebhookEvent)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if request.args.get("cursor"):
        query = query.where(_after(request.args["cursor"]))
    rows = db.session.scalars(
        query.order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(f"{last.received_at.isoformat()}{_SEPARATOR}{last.id}")
    return jsonify({"items": [webhook_event(event) for event in rows], "nextCursor": next_cursor})
