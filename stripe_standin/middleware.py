"""What every request goes through, outermost first.

1. ``request_middleware``: a ``Request-Id`` (``req_...``) on every answer and as the ``request``
   of the events the request causes; any exception becomes a Stripe error answer, never a bare 500.
2. ``auth_middleware``: localstripe's API-key check (``sk_...``), except on the onboarding pages a
   browser opens.
3. ``account_middleware``: ``Stripe-Account`` must name an existing connected account (403
   ``account_invalid`` otherwise, as Stripe answers) and be sent only to routes that serve
   connected accounts.
4. ``save_middleware``: the state is saved after every request that can change it.
5. ``idempotency.idempotency_middleware``.
6. ``corrections_middleware``: localstripe's answers as Stripe's (see ``corrections.py``).
"""
from __future__ import annotations

import json

from aiohttp import web

from . import corrections, errors, localstripe_bridge
from .context import runtime
from .errors import StripeError
from .events import CURRENT_REQUEST
from .ids import new_id
from .localstripe_bridge import get_post_data, unflatten_data

PUBLIC_PREFIXES = ("/setup/",)
# request.app[...] key: the set of routes that serve requests made with Stripe-Account
CONNECTED_ROUTES: web.AppKey = web.AppKey("stripe_standin_connected_routes")
# the set of routes that are localstripe's own
LOCALSTRIPE_ROUTES: web.AppKey = web.AppKey("stripe_standin_localstripe_routes")


@web.middleware
async def request_middleware(request: web.Request, handler):
    request_id = new_id("req_", 14)
    request["request_id"] = request_id
    token = CURRENT_REQUEST.set({"id": request_id, "idempotency_key": request.headers.get("Idempotency-Key")})
    try:
        response = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        if not request.path.startswith("/v1/"):
            raise
        response = errors.response_for(StripeError(exc.status, f"Unrecognized request URL ({request.method}: "
                                                               f"{request.path}).", saved=False))
    except web.HTTPException:
        raise  # redirects of the onboarding pages
    except Exception as exc:
        response = errors.response_for(exc)
    finally:
        CURRENT_REQUEST.reset(token)
    response.headers["Request-Id"] = request_id
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    return await localstripe_bridge.auth_middleware(request, handler)


@web.middleware
async def account_middleware(request: web.Request, handler):
    account = request.headers.get("Stripe-Account")
    if account is None:
        return await handler(request)
    if getattr(request.match_info, "http_exception", None) is not None:
        return await handler(request)  # no such route: answered 404 whatever the account
    if request.match_info.route not in request.app[CONNECTED_ROUTES]:
        raise StripeError(400, f"The offline Stripe does not serve {request.method} {request.path} for connected "
                               "accounts (Stripe-Account); it serves balance, payouts and events for them.",
                          saved=False)
    if account not in runtime(request).state.accounts:
        raise StripeError(403, f"The provided key does not have access to account '{account}' (or that account does "
                               "not exist). Application access may have been revoked.", code="account_invalid",
                          saved=False)
    return await handler(request)


@web.middleware
async def save_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    finally:
        if request.method in ("POST", "DELETE"):
            runtime(request).save()


@web.middleware
async def corrections_middleware(request: web.Request, handler):
    response = await handler(request)
    if (request.match_info.route in request.app[LOCALSTRIPE_ROUTES] and isinstance(response, web.Response)
            and response.content_type == "application/json" and response.body):
        data = await get_post_data(request) if request.method == "POST" else unflatten_data(request.query)
        body = json.loads(response.body)
        corrections.correct(body, expand_latest_charge=corrections.expands_latest_charge((data or {}).get("expand")))
        response.body = json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"
    return response
