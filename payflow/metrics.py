"""Prometheus metrics: the collectors every process writes to, and the ``/metrics`` answer.

Each process counts in its own collectors; ``payflow.metrics_store`` adds up every process's
figures (a shared directory on one machine, Redis between machines) for ``/metrics``.
"""
from __future__ import annotations

import logging
import time

import redis
from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import metrics_store

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter("payflow_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram(
    "payflow_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.payflow_request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("payflow_request_started", None)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            HTTP_LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response


class _Figures:
    """A collector whose families are the sum of every process's, gathered when scraped."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def exposition() -> Response:
    """``/metrics``: this host's processes plus the other hosts' latest pushes, summed."""
    groups = [metrics_store.local_families()]
    try:
        from .extensions import redis_client

        groups += metrics_store.remote_families(redis_client.client, current_app.config)
    except redis.RedisError as exc:  # the local figures still answer
        log.warning("metrics: other hosts' figures unavailable: %s", exc)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(metrics_store.merge(*groups)))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

WEBHOOKS_RECEIVED = Counter("payflow_webhook_events_received_total", "Verified webhook events recorded", ["type"])
WEBHOOKS_DUPLICATE = Counter("payflow_webhook_events_duplicate_total", "Webhook deliveries of an event already recorded")
WEBHOOKS_REJECTED = Counter("payflow_webhook_events_rejected_total", "Webhook deliveries refused", ["reason"])
WEBHOOKS_APPLIED = Counter("payflow_webhook_events_applied_total", "Webhook events processed by a job", ["outcome"])
WEBHOOKS_FAILED = Counter("payflow_webhook_events_failed_total", "Failed attempts to apply a webhook event", ["final"])
WEBHOOK_LATENCY = Histogram(
    "payflow_webhook_receipt_to_applied_seconds",
    "Time from recording a webhook event to applying it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)

# Summed over the live processes (livesum): what is open now, wherever it is.
STREAMS_OPEN = Gauge("payflow_streams_open", "Event streams open", multiprocess_mode="livesum")
STREAM_SUBSCRIPTIONS = Gauge("payflow_stream_subscriptions", "User channels the web processes are subscribed to",
                             multiprocess_mode="livesum")
STREAM_EVENTS_PUBLISHED = Counter("payflow_stream_events_published_total", "Updates appended and published", ["event"])
STREAM_EVENTS_DELIVERED = Counter("payflow_stream_events_delivered_total", "Live updates written to a stream")
STREAM_EVENTS_REPLAYED = Counter("payflow_stream_events_replayed_total", "Updates replayed from history on resume")
STREAM_RESYNCS = Counter("payflow_stream_resyncs_total", "Resumes whose last id was no longer in history")
STREAM_CLIENTS_DROPPED = Counter("payflow_stream_clients_dropped_total", "Streams ended because the client was too slow")
