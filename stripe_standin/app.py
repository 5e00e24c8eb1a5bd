"""The stand-in's aiohttp application: its own routes first, then every route of localstripe's.

A route of the stand-in with the same method and path as one of localstripe's replaces it
(``POST /v1/refunds``, ``GET /v1/events``, ...). Routes serving connected accounts decide by the
``Stripe-Account`` header: payouts and the balance go to the stand-in's connected-account
handlers with it, and to localstripe's platform handlers without it.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from . import (account_links, accounts, balances, events, localstripe_bridge, payouts, refunds, transfers,
               webhook_endpoints)
from .context import RUNTIME, connected_account
from .idempotency import idempotency_middleware
from .middleware import (CONNECTED_ROUTES, LOCALSTRIPE_ROUTES, account_middleware, auth_middleware,
                         corrections_middleware, request_middleware, save_middleware)
from .runtime import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# who a route serves: the platform only, or also connected accounts (Stripe-Account)
PLATFORM, BOTH = "platform", "both"


def _localstripe_handlers() -> dict[tuple[str, str], Handler]:
    return {(method, path): handler for method, path, handler in localstripe_bridge.routes()}


def _by_account(connected: Handler, platform: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await (connected if connected_account(request) else platform)(request)
    return handler


def _reset(rt: Runtime) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        """``DELETE /_config/data``: forget every object and event (localstripe's and the stand-in's)."""
        localstripe_bridge.replace_store({})
        rt.state.clear_objects()
        return web.Response()
    return handler


def route_table(rt: Runtime) -> list[tuple[str, str, Handler, str]]:
    """``(method, path, handler, who)``; ``who`` says whether Stripe-Account requests are served."""
    ls = _localstripe_handlers()
    return [
        ("POST", "/v1/accounts", accounts.create_route, PLATFORM),
        ("GET", "/v1/accounts", accounts.list_route, PLATFORM),
        ("GET", "/v1/accounts/{id}", accounts.retrieve_route, PLATFORM),
        ("POST", "/v1/accounts/{id}", accounts.update_route, PLATFORM),
        ("POST", "/v1/account_links", account_links.create_route, PLATFORM),
        ("POST", "/v1/transfers", transfers.create_route, PLATFORM),
        ("GET", "/v1/transfers", transfers.list_route, PLATFORM),
        ("GET", "/v1/transfers/{id}", transfers.retrieve_route, PLATFORM),
        ("POST", "/v1/transfers/{id}", transfers.update_route, PLATFORM),
        ("POST", "/v1/transfers/{id}/reversals", transfers.reverse_route, PLATFORM),
        ("GET", "/v1/transfers/{id}/reversals", transfers.list_reversals_route, PLATFORM),
        ("GET", "/v1/transfers/{id}/reversals/{reversal}", transfers.retrieve_reversal_route, PLATFORM),
        ("GET", "/v1/balance", _by_account(balances.retrieve_route, ls["GET", "/v1/balance"]), BOTH),
        ("POST", "/v1/payouts", _by_account(payouts.create_route, ls["POST", "/v1/payouts"]), BOTH),
        ("GET", "/v1/payouts", _by_account(payouts.list_route, ls["GET", "/v1/payouts"]), BOTH),
        ("GET", "/v1/payouts/{id}", _by_account(payouts.retrieve_route, ls["GET", "/v1/payouts/{id}"]), BOTH),
        ("POST", "/v1/payouts/{id}/cancel",
         _by_account(payouts.cancel_route, ls["POST", "/v1/payouts/{id}/cancel"]), BOTH),
        ("POST", "/v1/refunds", refunds.create_route, PLATFORM),
        ("GET", "/v1/events", events.list_route, BOTH),
        ("GET", "/v1/events/{id}", events.retrieve_route, BOTH),
        ("POST", "/v1/webhook_endpoints", webhook_endpoints.create_route, PLATFORM),
        ("GET", "/v1/webhook_endpoints", webhook_endpoints.list_route, PLATFORM),
        ("GET", "/v1/webhook_endpoints/{id}", webhook_endpoints.retrieve_route, PLATFORM),
        ("POST", "/v1/webhook_endpoints/{id}", webhook_endpoints.update_route, PLATFORM),
        ("DELETE", "/v1/webhook_endpoints/{id}", webhook_endpoints.delete_route, PLATFORM),
        ("GET", account_links.PAGE_PATH, account_links.page_route, PLATFORM),
        ("POST", account_links.PAGE_PATH, account_links.submit_route, PLATFORM),
        ("POST", "/_config/accounts/{id}/onboard", accounts.onboard_route, PLATFORM),
        ("POST", "/_config/accounts/{id}/restrict", accounts.restrict_route, PLATFORM),
        ("POST", "/_config/accounts/{id}/payout_failure", payouts.bank_failure_route, PLATFORM),
        ("POST", "/_config/payouts/{id}/in_transit", payouts.in_transit_route, PLATFORM),
        ("POST", "/_config/payouts/{id}/pay", payouts.pay_route, PLATFORM),
        ("POST", "/_config/payouts/{id}/fail", payouts.fail_route, PLATFORM),
        ("POST", "/_config/refunds/{id}/fail", refunds.fail_route, PLATFORM),
        ("POST", "/_config/webhooks/{id}", webhook_endpoints.config_route, PLATFORM),
        ("DELETE", "/_config/webhooks/{id}", webhook_endpoints.config_delete_route, PLATFORM),
        ("DELETE", "/_config/data", _reset(rt), PLATFORM),
    ]


def create_app(rt: Runtime) -> web.Application:
    app = web.Application(middlewares=[request_middleware, auth_middleware, account_middleware, save_middleware,
                                       idempotency_middleware, corrections_middleware])
    app[RUNTIME] = rt
    connected, own = set(), set()
    for method, path, handler, who in route_table(rt):
        route = app.router.add_route(method, path, handler)
        own.add((method, path))
        if who != PLATFORM:
            connected.add(route)
    from_localstripe = set()
    for method, path, handler in localstripe_bridge.routes():
        if (method, path) not in own:
            from_localstripe.add(app.router.add_route(method, path, handler))
    app[CONNECTED_ROUTES] = frozenset(connected)
    app[LOCALSTRIPE_ROUTES] = frozenset(from_localstripe)
    app.on_response_prepare.append(localstripe_bridge.add_cors_headers)
    localstripe_bridge.capture_events(rt.emit_localstripe_event)
    rt.scheduler.handle(payouts.SETTLE, lambda payout_id: payouts.settle(rt, payout_id))

    async def start(_app: web.Application) -> None:
        rt.scheduler.resume()

    async def stop(_app: web.Application) -> None:
        await rt.scheduler.close()
        await rt.deliveries.close()
        rt.save()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app
