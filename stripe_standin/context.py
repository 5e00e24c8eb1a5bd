"""What a handler needs from the request beyond its parameters: the running stand-in and the account.

``Stripe-Account: acct_...`` makes a request act on a connected account
(https://docs.stripe.com/connect/authentication); the middleware has already checked that the
account exists and that the route serves connected accounts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .runtime import Runtime

RUNTIME: web.AppKey = web.AppKey("stripe_standin_runtime")


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def connected_account(request: web.Request) -> str | None:
    return request.headers.get("Stripe-Account") or None
