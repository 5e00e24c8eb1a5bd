"""Login and register are rate-limited per address and per account; nothing else is."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import pytest

import config
from payflow import create_app
from payflow.webhooks import simulate

from .conftest import make_config
from .factories import PASSWORD
from .services import JWT_SECRET, WEBHOOK_SECRET
from .stream_helpers import ROOT
from .webhook_helpers import release_test_session


@contextmanager
def limits(app, per_address: str = "100 per minute", per_account: str = "100 per minute"):
    saved = app.config["AUTH_RATE_LIMIT_PER_ADDRESS"], app.config["AUTH_RATE_LIMIT_PER_ACCOUNT"]
    app.config["AUTH_RATE_LIMIT_PER_ADDRESS"], app.config["AUTH_RATE_LIMIT_PER_ACCOUNT"] = per_address, per_account
    try:
        yield
    finally:
        app.config["AUTH_RATE_LIMIT_PER_ADDRESS"], app.config["AUTH_RATE_LIMIT_PER_ACCOUNT"] = saved


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def login(client, email, password="wrong password", address="10.0.0.1"):
    return client.post("/auth/login", json={"email": email, "password": password}, **from_address(address))


def register(client, email, address="10.0.0.1"):
    return client.post("/auth/register", json={"email": email, "password": "long enough pw", "role": "company",
                                                 "name": "N"}, **from_address(address))


def assert_limited(response) -> int:
    assert response.status_code == 429, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests" and error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    return retry_after


def test_one_address_is_stopped_after_its_attempts_and_told_when_to_retry(app, client):
    with limits(app, per_address="3 per minute"):
        for number in range(3):
            assert login(client, f"someone{number}@example.test").status_code == 401
        assert_limited(login(client, "someone-else@example.test"))
        # another address is not held up by it
        assert login(client, "someone@example.test", address="10.0.0.2").status_code == 401


def test_login_and_register_share_the_address_limit(app, client):
    with limits(app, per_address="2 per minute"):
        assert register(client, "first@example.test").status_code == 201
        assert login(client, "first@example.test").status_code == 401
        assert_limited(register(client, "second@example.test"))


def test_failed_logins_of_one_account_are_limited_from_every_address(app, client, factory):
    user = factory.user("company")
    with limits(app, per_account="3 per minute"):
        for number in range(3):
            assert login(client, user.email, address=f"10.0.1.{number}").status_code == 401
        # even the right password, from a fresh address, waits: the guesser may have found it
        assert_limited(login(client, user.email.upper(), PASSWORD, address="10.0.1.99"))
        assert login(client, "another@example.test", address="10.0.1.99").status_code == 401


def test_successful_logins_do_not_use_up_the_account_limit(app, client, factory):
    user = factory.user("influencer")
    with limits(app, per_account="2 per minute"):
        for _ in range(4):
            assert login(client, user.email, PASSWORD).status_code == 200


def test_registering_one_email_over_and_over_is_limited(app, client):
    with limits(app, per_account="2 per minute"):
        assert register(client, "taken@example.test", address="10.0.2.1").status_code == 201
        assert register(client, "taken@example.test", address="10.0.2.2").status_code == 409
        assert_limited(register(client, "TAKEN@example.test", address="10.0.2.3"))


def test_the_webhook_the_stream_and_the_api_are_never_rate_limited(app, client, factory):
    company = factory.user("company")
    event = simulate.event_for("payment_intent.succeeded", payment=factory.payment(company))
    body, headers = simulate.signed(event, WEBHOOK_SECRET)
    with limits(app, per_address="1 per minute", per_account="1 per minute"):
        login(client, "x@example.test")
        assert login(client, "x@example.test").status_code == 429
        for _ in range(30):
            assert client.post("/payments/webhook", data=body, headers=headers).status_code == 200
            assert client.post("/payments/webhook", data="{}", headers={"Stripe-Signature": "t=1,v1=00"}
                               ).status_code == 400
            assert client.post("/payments/stream/token", headers=factory.headers(company)).status_code == 200
            assert client.get("/payments/stream?token=nope").status_code == 401
            assert client.get("/payments", headers=factory.headers(company)).status_code == 200
            assert client.get("/healthz").status_code == 200


def test_the_rate_limit_answer_is_documented_with_retry_after(client):
    doc = client.get("/openapi.json").get_json()
    assert "Retry-After" in doc["paths"]["/auth/login"]["post"]["responses"]["429"]["headers"]


def test_logins_still_work_when_the_limit_counters_cannot_be_reached(migrated_app, database_url, redis_server,
                                                                      localstripe, factory):
    unreachable = create_app(make_config(database_url, redis_server.url, localstripe.url,
                                         RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0"))
    client = unreachable.test_client()
    email = factory.user("company").email
    release_test_session()
    assert login(client, email, PASSWORD).status_code == 200
    assert login(client, email).status_code == 401


def test_behind_a_proxy_the_client_address_is_the_one_limited(migrated_app, database_url, redis_server, localstripe):
    proxied = create_app(make_config(database_url, redis_server.url, localstripe.url, TRUSTED_PROXY_HOPS=1,
                                     AUTH_RATE_LIMIT_PER_ADDRESS="2 per minute"))
    client = proxied.test_client()
    router = {"environ_base": {"REMOTE_ADDR": "10.9.9.9"}}

    def attempt(client_address):
        return client.post("/auth/login", json={"email": "p@example.test", "password": "x"},
                           headers={"X-Forwarded-For": client_address}, **router)

    assert attempt("203.0.113.1").status_code == 401
    assert attempt("203.0.113.1").status_code == 401
    assert attempt("203.0.113.1").status_code == 429
    assert attempt("203.0.113.2").status_code == 401  # another client behind the same router


def test_a_malformed_limit_is_refused_at_start():
    with pytest.raises(config.ConfigError, match="AUTH_RATE_LIMIT_PER_ADDRESS"):
        config.TestConfig({"AUTH_RATE_LIMIT_PER_ADDRESS": "lots"})


def test_under_gevent_password_hashing_runs_off_the_event_loops_thread():
    """Measured in bench/login_latency.py: inline, each login's scrypt stalls every other request of
    the process; in gevent's thread pool it does not. This checks the mechanism is in place."""
    script = f"""
from gevent import monkey; monkey.patch_all()
import threading
from config import TestConfig
from payflow import create_app, accounts
app = create_app(TestConfig({{"DATABASE_URL": "sqlite://", "JWT_SECRET_KEY": "{JWT_SECRET}"}}))
loop_thread = threading.get_native_id()
with app.app_context():
    hashing_thread = accounts._off_the_event_loop(threading.get_native_id)
    assert accounts.password_matches(accounts.hash_password("pw-1234567"), "pw-1234567")
    app.config["PASSWORD_HASHING_IN_THREADS"] = False
    inline_thread = accounts._off_the_event_loop(threading.get_native_id)
print(hashing_thread != loop_thread, inline_thread == loop_thread)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
