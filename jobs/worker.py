"""The RQ worker process: ``flask --app wsgi worker`` (the Procfile's ``worker``).

Jobs run in the worker process itself (``SimpleWorker``): no fork per job, one
database connection pool for the process's life. Beside the job loop a timer
thread sweeps the webhook inbox for events Redis lost, asks Stripe about payouts
and refunds whose create request got no definite answer, and prunes old rows; a
Redis lock keeps each of these to one worker at a time.
"""
from __future__ import annotations

import logging
import threading
import time

import redis
from flask import Flask, current_app
from rq import Queue, SimpleWorker

from payflow import idempotency, metrics_store, payouts, publisher, refunds
from payflow.extensions import db, redis_client
from payflow.webhooks import inbox

log = logging.getLogger(__name__)

QUEUES = (inbox.QUEUE_NAME, "default")
PRUNE_EVERY_SECONDS = 3600


class PayflowWorker(SimpleWorker):
    """Runs every job inside the Flask app's context, so jobs reach the database."""

    def __init__(self, *args, app: Flask, **kwargs):
        super().__init__(*args, **kwargs)
        self.flask_app = app

    def execute_job(self, job, queue):
        with self.flask_app.app_context():
            try:
                return super().execute_job(job, queue)
            finally:
                db.session.remove()


def housekeeping_once(app: Flask) -> None:
    with app.app_context():
        client = redis_client.client
        interval = app.config["WEBHOOK_SWEEP_INTERVAL_SECONDS"]
        if client.set("payflow:lock:sweep", "1", nx=True, ex=max(1, interval)):
            inbox.sweep()
            publisher.republish_overdue()
        if client.set("payflow:lock:resolve", "1", nx=True, ex=max(1, interval)):
            resolve_unanswered()
        if client.set("payflow:lock:prune", "1", nx=True, ex=PRUNE_EVERY_SECONDS):
            inbox.prune()
            publisher.prune_published()
            idempotency.prune()
        db.session.remove()


def resolve_unanswered() -> None:
    """Payouts and refunds Stripe gave no definite answer about: ask again (same key) or look them up.
    Two workers doing it at once is safe: the idempotency key makes the second ask a repeat."""
    for domain in (payouts, refunds):
        try:
            domain.resolve_unanswered()
        except Exception:  # one failing must not stop the other, nor the sweep next time
            log.exception("housekeeping.resolve_failed domain=%s", domain.__name__)


def start_housekeeping(app: Flask, stop: threading.Event) -> threading.Thread:
    pusher = metrics_store.Pusher(app.config["METRICS_PUSH_INTERVAL_SECONDS"])

    def loop():
        while not stop.wait(min(app.config["WEBHOOK_SWEEP_INTERVAL_SECONDS"], pusher.interval or 3600)):
            try:
                if pusher.due():
                    with app.app_context():
                        # For hosts that share no disk: this host's figures, for the web's /metrics.
                        metrics_store.push(redis_client.client, app.config)
                housekeeping_once(app)
            except redis.RedisError as exc:
                log.warning("housekeeping skipped, Redis unavailable: %s", exc)
            except Exception:
                log.exception("housekeeping failed")

    thread = threading.Thread(target=loop, name="payflow-housekeeping", daemon=True)
    thread.start()
    return thread


def wait_for_redis(connection, *, max_delay: float = 5.0) -> None:
    delay = 0.2
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError:
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def run_worker(*, burst: bool = False) -> None:
    """Work until told to stop. RQ's worker gives up when Redis goes away (a restart, a
    failover); this process does not: it waits for Redis and starts a fresh worker, and the
    inbox sweep queues again whatever the restart lost."""
    app = current_app._get_current_object()
    connection = redis_client.client
    queues = [Queue(name, connection=connection) for name in QUEUES]
    stop = threading.Event()
    if not burst:
        start_housekeeping(app, stop)
    try:
        while True:
            wait_for_redis(connection)
            worker = PayflowWorker(queues, connection=connection, app=app)
            try:
                worker.work(with_scheduler=True, burst=burst)
                return  # a warm shutdown, or a burst that is done
            except redis.ConnectionError as exc:
                log.warning("worker.redis_lost error=%r (waiting for Redis, then starting again)", str(exc))
    finally:
        stop.set()
