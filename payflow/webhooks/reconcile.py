"""Catch up with Stripe: events its Events API has that the inbox never received."""
from __future__ import annotations

import json
import logging
import re
import time

from ..stripe_api import gateway
from . import envelope, inbox

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not match:
        raise ValueError("use a number and a unit: 90s, 30m, 6h, 3d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 30 * 86400:
        raise ValueError("Stripe keeps events for 30 days; look back at most 30d")
    return seconds


def reconcile(since_seconds: int) -> tuple[int, int]:
    """Record and queue every event of the last ``since_seconds`` not yet in the inbox."""
    created_gte = int(time.time()) - since_seconds
    seen = recorded = 0
    starting_after = None
    while True:
        page = gateway().list_events(created_gte=created_gte, starting_after=starting_after)
        for event in page.data:
            data = event.to_dict(for_json=True)
            seen += 1
            payload = json.dumps(data, separators=(",", ":"))
            try:
                envelope.parse(payload)
            except envelope.NotAStripeEvent as exc:
                log.error("webhook.reconcile_skipped event_id=%s reason=%r", data.get("id"), str(exc))
                continue
            if inbox.record(data, payload):
                recorded += 1
                inbox.enqueue_or_mark(data["id"])
        if not page.has_more or not page.data:
            return seen, recorded
        starting_after = page.data[-1].id
