"""``/metrics`` of the web process shows every process's figures: each gunicorn worker's and the
RQ worker's, on one machine (a shared directory) and across hosts that share no disk (Redis)."""
from __future__ import annotations

import glob
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack import WorkerProcess
from payflow.webhooks import simulate

from .services import WEBHOOK_SECRET
from .stream_helpers import SSEStream, WebProcess, server_environment

WEBHOOKS = 6
HEALTH_CHECKS = 40


def samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one sample name in Prometheus text."""
    found = {}
    for match in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE):
        found[match.group(1) or ""] = float(match.group(2))
    return found


def total(text: str, name: str, **labels) -> float:
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(value for key, value in samples(text, name).items() if all(part in key for part in wanted))


def scrape(web) -> str:
    response = requests.get(f"{web.url}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def wait_for(web, predicate, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = scrape(web)
        if predicate(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never got there:\n{text[:4000]}")
        time.sleep(0.2)


def send_webhooks(web, factory, count: int) -> list[str]:
    """Signed payment_intent.succeeded events for fresh payments, over separate connections."""
    events = [simulate.event_for("payment_intent.succeeded", payment=factory.payment()) for _ in range(count)]
    from .webhook_helpers import release_test_session

    release_test_session()

    def post(event):
        body, headers = simulate.signed(event, WEBHOOK_SECRET)
        return requests.post(f"{web.url}/payments/webhook", data=body, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(post, events)) == [200] * count
    return [event["id"] for event in events]


def health_checks(web, count: int) -> None:
    def get(_):
        with requests.Session() as session:  # a connection each, so both workers get some
            return session.get(f"{web.url}/healthz", timeout=10).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(get, range(count))) == [200] * count


@pytest.fixture
def metrics_dir():
    with tempfile.TemporaryDirectory(prefix="payflow-metrics-") as path:
        yield path


def test_two_web_workers_and_a_worker_on_one_machine_add_up_in_one_scrape(
        migrated_app, app, factory, database_url, redis_server, localstripe, metrics_dir):
    env = server_environment(database_url, redis_server.url, localstripe.url, WEB_CONCURRENCY=2,
                             PROMETHEUS_MULTIPROC_DIR=metrics_dir, METRICS_PUSH_INTERVAL_SECONDS=0,
                             LOG_LEVEL="WARNING")
    web = WebProcess(env, name="metrics-web").wait_ready()
    worker = WorkerProcess(env)
    streams = []
    try:
        send_webhooks(web, factory, WEBHOOKS)
        before = total(scrape(web), "payflow_http_requests_total", endpoint="/healthz")  # wait_ready's
        health_checks(web, HEALTH_CHECKS)
        text = wait_for(web, lambda t: total(t, "payflow_webhook_events_applied_total", outcome="processed")
                        >= WEBHOOKS)
        # The worker's figures, in the web process's answer
        assert total(text, "payflow_webhook_events_applied_total", outcome="processed") == WEBHOOKS
        assert total(text, "payflow_webhook_receipt_to_applied_seconds_count") == WEBHOOKS
        assert total(text, "payflow_webhook_events_failed_total") == 0
        # Both web workers' figures: every delivery and every health check, whoever answered it
        assert total(text, "payflow_webhook_events_received_total") == WEBHOOKS
        assert total(text, "payflow_http_requests_total", endpoint="/healthz") == before + HEALTH_CHECKS
        pids = {re.search(r"_(\d+)\.db$", name).group(1) for name in glob.glob(os.path.join(metrics_dir, "*.db"))}
        assert len(pids) >= 3, pids  # two gunicorn workers and the RQ worker wrote figures there

        # Open streams are counted over the live workers, whichever of them holds each stream
        user = factory.user("influencer")
        token = factory.headers(user)
        streams = [SSEStream(web.port, headers=token) for _ in range(4)]
        for stream in streams:
            stream.wait_open()
        opened = wait_for(web, lambda t: total(t, "payflow_streams_open") == 4)
        # Every scrape, whichever worker answers it, has the same sums
        for _ in range(4):
            again = scrape(web)
            assert total(again, "payflow_webhook_events_received_total") == WEBHOOKS
            assert total(again, "payflow_streams_open") == 4
        assert opened
    finally:
        for stream in streams:
            stream.close()
        worker.close()
        web.stop()


def test_hosts_that_share_no_disk_add_up_through_redis(
        migrated_app, app, factory, database_url, redis_server, localstripe):
    with tempfile.TemporaryDirectory() as web_dir, tempfile.TemporaryDirectory() as worker_dir:
        common = dict(METRICS_PUSH_INTERVAL_SECONDS=1, LOG_LEVEL="WARNING", WEBHOOK_SWEEP_INTERVAL_SECONDS=1)
        web = WebProcess(server_environment(database_url, redis_server.url, localstripe.url,
                                            PROMETHEUS_MULTIPROC_DIR=web_dir, DYNO="web.1", **common),
                         name="dyno-web").wait_ready()
        worker = WorkerProcess(server_environment(database_url, redis_server.url, localstripe.url,
                                                  PROMETHEUS_MULTIPROC_DIR=worker_dir, DYNO="worker.1", **common))
        try:
            send_webhooks(web, factory, WEBHOOKS)
            text = wait_for(web, lambda t: total(t, "payflow_webhook_events_applied_total", outcome="processed")
                            >= WEBHOOKS)
            assert total(text, "payflow_webhook_events_applied_total", outcome="processed") == WEBHOOKS
            assert total(text, "payflow_webhook_events_received_total") == WEBHOOKS  # its own, counted once
            # nothing of the worker's is on the web's disk: its figures came through Redis
            assert not set(os.listdir(web_dir)) & set(os.listdir(worker_dir))
            assert total(scrape(web), "payflow_webhook_receipt_to_applied_seconds_count") == WEBHOOKS
        finally:
            worker.close()
            web.stop()
