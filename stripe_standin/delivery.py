"""Webhook delivery: each event to every endpoint that wants it, signed with that endpoint's secret.

Who gets what (https://docs.stripe.com/webhooks, https://docs.stripe.com/connect/webhooks):
- an endpoint made with ``connect=false`` gets the platform's own events (no ``account``);
- an endpoint made with ``connect=true`` gets events of connected accounts (``account`` set);
- either only for the types in its ``enabled_events`` (``*`` for all) and while it is enabled;
- a localstripe-style registration (``POST /_config/webhooks/{id}``) gets both kinds, so a
  single registration sees everything, as payflow's tests and dev runner expect.

Each attempt is a POST of the event's JSON with ``Stripe-Signature: t=<now>,v1=<HMAC-SHA256 of
"<t>.<body>" with the secret>``, made by the Stripe library's own signing helper. A 2xx answer
is a delivery; anything else is retried after each of ``webhook_retries`` seconds (Stripe
retries for up to three days; the stand-in, in memory, for as long as the process runs).
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import stripe

from .responses import dumps
from .settings import Settings
from .state import State

log = logging.getLogger("stripe_standin.webhooks")

ATTEMPT_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Target:
    kind: str  # "endpoint" (a webhook endpoint) or "config" (a /_config/webhooks registration)
    id: str
    url: str
    secret: str
    api_version: str | None


def _endpoint_wants(record: dict, event: dict) -> bool:
    endpoint = record["endpoint"]
    enabled = endpoint["enabled_events"]
    return (endpoint["status"] == "enabled"
            and record["connect"] == ("account" in event)
            and ("*" in enabled or event["type"] in enabled))


def targets(state: State, event: dict) -> list[Target]:
    chosen = [Target("endpoint", endpoint_id, record["endpoint"]["url"], record["secret"],
                     record["endpoint"]["api_version"])
              for endpoint_id, record in state.webhook_endpoints.items() if _endpoint_wants(record, event)]
    chosen += [Target("config", hook_id, hook["url"], hook["secret"], None)
               for hook_id, hook in state.config_webhooks.items()
               if hook["events"] is None or event["type"] in hook["events"]]
    return chosen


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """``t=...,v1=...`` for ``payload``, as Stripe signs (https://docs.stripe.com/webhooks#verify-manually)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp or int(time.time()))


class Deliveries:
    def __init__(self, state: State, settings: Settings, changed: Callable[[], None]):
        self.state = state
        self.settings = settings
        self.changed = changed
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()

    def dispatch(self, event: dict) -> None:
        """Start delivering ``event`` (already kept in the log) to everyone who wants it."""
        chosen = targets(self.state, event)
        event["pending_webhooks"] = len(chosen)
        for target in chosen:
            body = dict(event, api_version=target.api_version or event["api_version"])
            payload = dumps(body)  # the body is fixed per endpoint; each attempt is signed anew
            # a fresh context: the attempts belong to no API request
            task = asyncio.get_running_loop().create_task(self._deliver(target, event, payload),
                                                          context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _still_wanted(self, target: Target) -> bool:
        if target.kind == "config":
            return target.id in self.state.config_webhooks
        record = self.state.webhook_endpoints.get(target.id)
        return record is not None and record["endpoint"]["status"] == "enabled"

    async def _deliver(self, target: Target, event: dict, payload: str) -> None:
        waits = (self.settings.webhook_delay, *self.settings.webhook_retries)
        for attempt, wait in enumerate(waits, start=1):
            await asyncio.sleep(wait)
            if not self._still_wanted(target):
                return
            if await self._attempt(target, event, payload, attempt):
                event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
                self.changed()
                return
        log.warning("webhook %s %s to %s: gave up after %d attempts", event["id"], event["type"], target.url,
                    len(waits))

    async def _attempt(self, target: Target, event: dict, payload: str, attempt: int) -> bool:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, target.secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with self._client().post(target.url, data=payload.encode(), headers=headers) as response:
                await response.read()
                delivered = 200 <= response.status < 300
                log.info("webhook %s %s to %s (attempt %d): %d", event["id"], event["type"], target.url, attempt,
                         response.status)
                return delivered
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.info("webhook %s %s to %s (attempt %d): %s", event["id"], event["type"], target.url, attempt,
                     exc.__class__.__name__)
            return False

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_SECONDS))
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
