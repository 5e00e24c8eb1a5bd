"""Webhook endpoints (https://docs.stripe.com/api/webhook_endpoints) and localstripe-style registrations.

``POST /v1/webhook_endpoints`` (url, enabled_events, api_version, connect, description,
metadata) answers the endpoint with its ``secret`` (``whsec_...``), which Stripe shows only
then. ``connect=true`` makes an endpoint for connected accounts' events; the object does not
say which kind it is (Stripe's does not either): tell them apart by description or metadata.
``POST /_config/webhooks/{id}`` (url, secret, events[]) is localstripe's own way to register a
receiver with a secret of one's choosing; such a receiver gets platform and Connect events.
"""
from __future__ import annotations

import re
import secrets
import time

from aiohttp import web

from . import listing
from .context import runtime
from .errors import parameter_invalid, resource_missing
from .events import API_VERSION
from .ids import new_id
from .params import Params, from_request, merge_metadata
from .responses import json_response
from .runtime import Runtime

EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")
API_VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")


def _url(params: Params, required: bool) -> str | None:
    url = params.string("url", required=required)
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        raise parameter_invalid("url", f"Invalid URL: {url}. URLs must begin with http:// or https://.",
                                code="url_invalid")
    return url


def _enabled_events(params: Params, required: bool) -> list[str] | None:
    events = params.string_list("enabled_events", required=required)
    for position, event_type in enumerate(events or []):
        if not EVENT_TYPE.match(event_type):
            raise parameter_invalid(f"enabled_events[{position}]", f"Invalid enabled_events[{position}]: "
                                    f"'{event_type}' is not an event type.")
    return events


def get(rt: Runtime, endpoint_id: str) -> dict:
    record = rt.state.webhook_endpoints.get(endpoint_id)
    if record is None:
        raise resource_missing("webhook endpoint", endpoint_id)
    return record


def create(rt: Runtime, params: Params) -> dict:
    url = _url(params, required=True)
    enabled_events = _enabled_events(params, required=True)
    api_version = params.string("api_version")
    if api_version is not None and not API_VERSION_FORMAT.match(api_version):
        raise parameter_invalid("api_version", f"Invalid API version: {api_version}")
    connect = bool(params.boolean("connect"))
    description = params.string("description")
    metadata = merge_metadata({}, params.metadata())
    params.no_expand()
    params.done()
    endpoint_id = new_id("we_")
    endpoint = {
        "id": endpoint_id, "object": "webhook_endpoint", "api_version": api_version or API_VERSION,
        "application": None, "created": int(time.time()), "description": description,
        "enabled_events": enabled_events, "livemode": False, "metadata": metadata, "status": "enabled", "url": url,
    }
    secret = "whsec_" + secrets.token_urlsafe(32)
    rt.state.webhook_endpoints[endpoint_id] = {"endpoint": endpoint, "secret": secret, "connect": connect}
    return dict(endpoint, secret=secret)


def update(rt: Runtime, endpoint_id: str, params: Params) -> dict:
    """``POST /v1/webhook_endpoints/{id}`` (url, enabled_events, disabled, description, metadata)."""
    endpoint = get(rt, endpoint_id)["endpoint"]
    url = _url(params, required=False)
    enabled_events = _enabled_events(params, required=False)
    disabled = params.boolean("disabled")
    description = params.string("description")
    metadata = params.metadata()
    params.no_expand()
    params.done()
    if url is not None:
        endpoint["url"] = url
    if enabled_events is not None:
        endpoint["enabled_events"] = enabled_events
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    if description is not None:
        endpoint["description"] = description
    endpoint["metadata"] = merge_metadata(endpoint["metadata"], metadata)
    return endpoint


# --- routes --------------------------------------------------------------------------


async def create_route(request: web.Request) -> web.Response:
    return json_response(create(runtime(request), await from_request(request)))


async def retrieve_route(request: web.Request) -> web.Response:
    return json_response(get(runtime(request), request.match_info["id"])["endpoint"])


async def update_route(request: web.Request) -> web.Response:
    return json_response(update(runtime(request), request.match_info["id"], await from_request(request)))


async def delete_route(request: web.Request) -> web.Response:
    rt = runtime(request)
    endpoint_id = request.match_info["id"]
    get(rt, endpoint_id)
    del rt.state.webhook_endpoints[endpoint_id]
    return json_response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


async def list_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    listed = [record["endpoint"] for record in reversed(runtime(request).state.webhook_endpoints.values())]
    return json_response(listing.page("/v1/webhook_endpoints", "webhook endpoint", listed, params))


async def config_route(request: web.Request) -> web.Response:
    """``POST /_config/webhooks/{id}`` (url, secret, events[] optional): localstripe's registration, kept."""
    params = await from_request(request)
    url = _url(params, required=True)
    secret = params.string("secret", required=True)
    events = params.string_list("events")
    params.done()
    runtime(request).state.config_webhooks[request.match_info["id"]] = {"url": url, "secret": secret,
                                                                        "events": events}
    return web.Response()


async def config_delete_route(request: web.Request) -> web.Response:
    runtime(request).state.config_webhooks.pop(request.match_info["id"], None)
    return web.Response()
