"""Events: what happened, in Stripe's full event shape, kept for the Events API and delivered.

An event is ``{id, object: "event", api_version, created, data: {object[, previous_attributes]},
livemode, pending_webhooks, request: {id, idempotency_key}, type}``, plus ``account`` when it
happened on a connected account (a Connect event). ``data.object`` is a copy of the object as
it was when the event happened. Events are kept 30 days, as Stripe keeps them
(https://docs.stripe.com/api/events).
"""
from __future__ import annotations

import copy
import time
from contextvars import ContextVar

import stripe
from aiohttp import web

from .context import connected_account, runtime
from .errors import StripeError, parameter_invalid, resource_missing
from .ids import new_id
from .params import Params, from_request
from .responses import json_response, list_object

API_VERSION = stripe.api_version
RETENTION_SECONDS = 30 * 24 * 3600

# The API request being handled, for the ``request`` field of the events it causes; timed
# changes (a payout paid later) run without one and say ``{"id": null, ...}``, as Stripe does.
CURRENT_REQUEST: ContextVar[dict | None] = ContextVar("stripe_standin_request", default=None)


def build(event_type: str, obj: dict, *, account: str | None = None, previous: dict | None = None) -> dict:
    """A new event about ``obj`` (a Stripe object dict, copied); ``previous`` are the changed fields' old values."""
    request = CURRENT_REQUEST.get() or {"id": None, "idempotency_key": None}
    event = {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": copy.deepcopy(obj)},
        "livemode": False,
        "pending_webhooks": 0,
        "request": dict(request),
        "type": event_type,
    }
    if previous:
        event["data"]["previous_attributes"] = copy.deepcopy(previous)
    if account:
        event["account"] = account
    return event


def previous_attributes(before: dict, after: dict) -> dict:
    """The top-level fields of ``before`` that ``after`` changed, with their old values (``*.updated`` events)."""
    return {key: value for key, value in before.items() if after.get(key) != value}


def keep(events: list[dict], event: dict, now: float | None = None) -> None:
    """Append ``event`` and forget events past Stripe's retention."""
    events.append(event)
    horizon = (now or time.time()) - RETENTION_SECONDS
    expired = 0
    while expired < len(events) and events[expired]["created"] < horizon:
        expired += 1
    del events[:expired]


def _created_filter(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        bound = _timestamp("created", value)
        return [lambda created: created == bound]
    if not isinstance(value, dict) or not value or set(value) - {"gt", "gte", "lt", "lte"}:
        raise parameter_invalid("created", "Invalid created: use created[gt], created[gte], created[lt] or created[lte].")
    tests = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    return [lambda created, op=tests[key], bound=_timestamp(f"created[{key}]", raw): op(created, bound)
            for key, raw in value.items()]


def _timestamp(param: str, raw) -> int:
    if not str(raw).isdigit():
        raise parameter_invalid(param, f"Invalid integer: {raw}", code="parameter_invalid_integer")
    return int(raw)


def _type_matches(pattern: str, event_type: str) -> bool:
    # Stripe's type filter accepts a trailing wildcard: "payout.*"
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


def page(events: list[dict], account: str | None, params: Params) -> dict:
    """A page of the account's events (the platform's when ``account`` is None), newest first.

    Parameters as Stripe's ``GET /v1/events``: ``limit`` (1-100, default 10), ``starting_after``,
    ``ending_before``, ``type`` (a trailing ``*`` matches a prefix), ``types[]``, ``created`` (an
    integer, or ``created[gt|gte|lt|lte]``). A cursor is any event of the account, filtered or not.
    """
    limit = params.integer("limit") or 10
    if not 1 <= limit <= 100:
        raise parameter_invalid("limit", "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer")
    starting_after = params.string("starting_after")
    ending_before = params.string("ending_before")
    one_type = params.string("type")
    types = params.string_list("types")
    created = _created_filter(params.raw("created"))
    params.done()
    if one_type and types:
        raise StripeError(400, "You may only specify one of these parameters: type, types.",
                          code="parameters_exclusive", saved=False)
    if starting_after and ending_before:
        raise StripeError(400, "You may only specify one of these parameters: starting_after, ending_before.",
                          code="parameters_exclusive", saved=False)
    patterns = types or ([one_type] if one_type else None)

    def wanted(event: dict) -> bool:
        return ((patterns is None or any(_type_matches(p, event["type"]) for p in patterns))
                and all(test(event["created"]) for test in created))

    newest_first = [event for event in reversed(events) if event.get("account") == account]
    if starting_after:
        matching = [e for e in newest_first[_position(newest_first, starting_after, "starting_after") + 1:] if wanted(e)]
        chosen, has_more = matching[:limit], len(matching) > limit
    elif ending_before:
        matching = [e for e in newest_first[:_position(newest_first, ending_before, "ending_before")] if wanted(e)]
        chosen, has_more = matching[-limit:], len(matching) > limit
    else:
        matching = [e for e in newest_first if wanted(e)]
        chosen, has_more = matching[:limit], len(matching) > limit
    return list_object("/v1/events", copy.deepcopy(chosen), has_more)


def _position(listed: list[dict], event_id: str, param: str) -> int:
    for position, event in enumerate(listed):
        if event["id"] == event_id:
            return position
    raise resource_missing("event", event_id, param=param)


def find(events: list[dict], account: str | None, event_id: str) -> dict:
    for event in events:
        if event["id"] == event_id and event.get("account") == account:
            return event
    raise resource_missing("event", event_id)


async def list_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    return json_response(page(runtime(request).state.events, connected_account(request), params))


async def retrieve_route(request: web.Request) -> web.Response:
    event = find(runtime(request).state.events, connected_account(request), request.match_info["id"])
    return json_response(event)
