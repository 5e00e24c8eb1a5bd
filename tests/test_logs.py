"""Log lines: request ids, and one JSON object per line with ``LOG_FORMAT=json``."""
from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from contextlib import contextmanager

import pytest

import config
from payflow import logs
from payflow.webhooks import simulate

from .services import WEBHOOK_SECRET, process_environment
from .stream_helpers import ROOT, WebProcess
from .webhook_helpers import deliver, run_jobs


@contextmanager
def captured(log_format: str):
    """Records of every payflow and jobs logger, formatted as ``LOG_FORMAT`` would."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter(log_format))
    handler.addFilter(logs.ContextFilter())
    loggers = [logging.getLogger("payflow"), logging.getLogger("jobs")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_request_id_sent_by_the_client_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "req-from-the-proxy.42"})
    assert response.headers["X-Request-ID"] == "req-from-the-proxy.42"


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first and second and first != second


@pytest.mark.parametrize("given", ["x" * 500, "", "spaces are not ids", "quote\"and;semicolon"])
def test_an_unsafe_request_id_is_replaced_rather_than_logged(client, given):
    echoed = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert echoed != given and len(echoed) == 32


def test_error_answers_carry_the_request_id_too(client):
    response = client.get("/payments", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "abc-123"


def test_json_log_lines_of_a_webhook_carry_the_request_id_and_the_event_id(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    with captured("json") as stream:
        body, headers = simulate.signed(event, WEBHOOK_SECRET)
        response = client.post("/payments/webhook", data=body, headers={**headers, "X-Request-ID": "hook-1"})
        assert response.status_code == 200
    lines = json_lines(stream.getvalue())
    received = [line for line in lines if line["message"].startswith("webhook.received")]
    assert received, lines
    assert received[0]["request_id"] == "hook-1"
    assert received[0]["event_id"] == event["id"]
    assert received[0]["level"] == "INFO" and received[0]["logger"] == "payflow.webhooks.routes"
    assert "context" not in received[0]


def test_json_log_lines_of_a_job_carry_the_job_id_and_the_event_id(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    assert deliver(client, event).status_code == 200
    with captured("json") as stream:
        run_jobs(app)
    lines = json_lines(stream.getvalue())
    applied = [line for line in lines if line["message"].startswith("webhook.applied")]
    assert applied, lines
    assert applied[0]["event_id"] == event["id"]
    assert applied[0]["job_id"]
    assert "request_id" not in applied[0]


def test_text_stays_the_default_with_the_context_as_key_value_pairs(client):
    assert config.TestConfig({}).LOG_FORMAT == "text"
    with captured("text") as stream:
        with logs.bind(event_id="evt_text"):
            logging.getLogger("payflow.test").info("something happened")
    line = stream.getvalue().strip()
    assert line.endswith("something happened event_id=evt_text")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_log_format_is_refused_at_start():
    with pytest.raises(config.ConfigError, match="LOG_FORMAT"):
        config.TestConfig({"LOG_FORMAT": "xml"})


def test_every_line_the_web_process_writes_is_one_json_object(database_url, redis_server, localstripe):
    env = process_environment(database_url, redis_server.url, localstripe.url, LOG_FORMAT="json", ACCESS_LOG="-",
                              LOG_LEVEL="INFO", WEB_CONCURRENCY=1)
    web = WebProcess(env, name="json-logs")
    try:
        web.wait_ready()
        import requests

        response = requests.get(f"{web.url}/payments", headers={"X-Request-ID": "from-test-7"}, timeout=5)
        assert response.status_code == 401
    finally:
        web.stop()
    text = (open(web.log.name, encoding="utf-8").read())
    lines = json_lines(text)  # raises if any line is not JSON
    assert any(line.get("logger") == "gunicorn.error" for line in lines)
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    assert any(line.get("request_id") == "from-test-7" for line in access), access


def test_migrations_log_json_lines_too(tmp_path, redis_server):
    env = process_environment(f"sqlite:///{tmp_path}/payflow.db", redis_server.url, "http://127.0.0.1:9",
                              LOG_FORMAT="json", LOG_LEVEL="INFO", FLASK_SKIP_DOTENV="1")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stderr)
    assert any("Running upgrade" in line["message"] for line in lines), result.stderr
