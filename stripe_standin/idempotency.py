"""Idempotent requests as Stripe answers them (https://docs.stripe.com/api/idempotent_requests).

Every POST may carry ``Idempotency-Key``. The first request with a key runs and its answer
(status and body) is saved; a later request with the same key and the same parameters gets that
answer again without running (header ``Idempotent-Replayed: true``); the same key with other
parameters, or on another path, is refused with an ``idempotency_error`` (400); a request
arriving while the first is still running gets 409 ``idempotency_key_in_use``. Keys belong to
one API key and one account (``Stripe-Account``), and are forgotten after 24 hours. Answers to
requests refused while their parameters were checked are not saved (they can be retried with
the same key), as Stripe does.
"""
from __future__ import annotations

import json
import time

from aiohttp import web

from . import errors
from .context import runtime
from .errors import StripeError
from .localstripe_bridge import get_api_key, get_post_data

KEY_LIFETIME_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


async def _fingerprint(request: web.Request) -> str:
    params = await get_post_data(request, remove_auth=False)
    return json.dumps([request.path, dict(params or {})], sort_keys=True, default=str)


def _forget_expired(records: dict, now: float) -> None:
    for scope in [scope for scope, record in records.items() if now - record["created"] > KEY_LIFETIME_SECONDS]:
        del records[scope]


def _replay(record: dict) -> web.Response:
    return web.Response(body=record["body"], status=record["status"], content_type=record["content_type"],
                        headers={"Idempotent-Replayed": "true", "Original-Request": record["request_id"] or ""})


@web.middleware
async def idempotency_middleware(request: web.Request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or not request.path.startswith("/v1/"):
        return await handler(request)
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(400, f"Invalid Idempotency-Key: keys can be at most {MAX_KEY_LENGTH} characters.",
                          saved=False)
    records = runtime(request).state.idempotency
    now = time.time()
    _forget_expired(records, now)
    scope = (get_api_key(request), request.headers.get("Stripe-Account"), key)
    fingerprint = await _fingerprint(request)
    record = records.get(scope)
    if record is not None:
        if record["fingerprint"] != fingerprint:
            raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters they were "
                                   f"first used with. Try using a key other than '{key}' if you meant to execute a "
                                   "different request.", type="idempotency_error", saved=False)
        if record["status"] is None:
            raise StripeError(409, "There is currently another in-progress request using this Stripe API key and "
                                   "idempotency key. Please try again later.", code="idempotency_key_in_use",
                              saved=False)
        return _replay(record)
    records[scope] = record = {"fingerprint": fingerprint, "status": None, "created": now}
    try:
        response = await handler(request)
        keep = True
    except Exception as exc:
        response = errors.response_for(exc)
        keep = errors.saved(exc)
    if keep and isinstance(response, web.Response):
        record.update(status=response.status, body=response.body, content_type=response.content_type,
                      request_id=request.get("request_id"))
    else:
        del records[scope]
    return response
