"""The one place that reaches into the ``localstripe`` package.

localstripe keeps its objects in a module-level ``store`` that it pickles to a fixed file in
``/tmp`` on every change, sends its events from a module-level ``schedule_webhook``, and builds
its aiohttp app at import time. The stand-in reuses its resources (PaymentIntents, charges,
refunds, payment methods, ...) as they are and changes exactly three things, all here:

- its routes are copied into the stand-in's own application, after the stand-in's, so that a
  stand-in route of the same method and path wins;
- its events go to the stand-in's event log (full Stripe shape, signed delivery, Events API)
  instead of its own sender;
- its store is saved with the stand-in's state file instead of ``/tmp/localstripe.pickle``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import localstripe.resources as _resources
import localstripe.server as _server
from localstripe.errors import UserError
from localstripe.resources import Charge, PaymentIntent, Refund, store
from localstripe.server import add_cors_headers, auth_middleware, get_api_key, get_post_data, unflatten_data

__all__ = [
    "Charge", "PaymentIntent", "Refund", "UserError", "add_cors_headers", "auth_middleware", "capture_events",
    "get_api_key", "get_post_data", "refunds_of", "replace_store", "routes", "store", "store_snapshot",
    "unflatten_data",
]


def routes() -> Iterator[tuple[str, str, Callable]]:
    """``(method, path template, handler)`` of every route localstripe serves, in its order."""
    for route in _server.app.router.routes():
        yield route.method, route.resource.canonical, route.handler


def capture_events(sink: Callable[[dict], None]) -> None:
    """Send every event localstripe makes to ``sink`` (an exported event dict) instead of its sender.

    localstripe also keeps each event in its store; the stand-in's event log replaces that copy.
    """

    def schedule_webhook(event) -> None:
        exported = event._export()
        store.pop(f"event:{event.id}", None)
        sink(exported)

    _resources.schedule_webhook = schedule_webhook
    # Saving is the stand-in's job (after each request); localstripe would pickle the whole store
    # to a shared file in /tmp on every single change.
    store.dump_to_disk = lambda: None


def store_snapshot() -> dict:
    return dict(store)


def replace_store(objects: dict) -> None:
    """Put a saved snapshot back (``dict.update`` on purpose: no per-item save hook)."""
    store.clear()
    dict.update(store, objects)


def refunds_of(charge_id: str) -> list:
    """localstripe's Refund objects of one charge, oldest first."""
    return [value for key, value in store.items() if key.startswith("refund:") and value.charge == charge_id]
