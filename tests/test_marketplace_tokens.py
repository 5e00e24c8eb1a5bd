"""The marketplace's own access tokens: accepted beside payflow's, users made on first sight."""
from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

import config
from payflow.extensions import db
from payflow.models import User

from .factories import PASSWORD
from .services import JWT_SECRET
from .stream_helpers import SSEStream, server_environment, start_web_processes
from .test_concurrency import race

ISSUER = "https://marketplace.example.test"
AUDIENCE = "payflow"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def token(subject: str | None = None, *, key=RSA_KEY, algorithm="RS256", issuer=ISSUER, audience=AUDIENCE,
          role="influencer", expires_in=600, headers=None, **claims) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "aud": audience, "sub": subject or f"mkt-{uuid.uuid4().hex[:12]}", "iat": now,
               "exp": now + expires_in, "role": role, **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return pyjwt.encode(payload, key, algorithm=algorithm, headers=headers)


def bearer(encoded: str) -> dict:
    return {"Authorization": f"Bearer {encoded}"}


@contextmanager
def marketplace(app, **settings):
    """The app configured as ``JWT_ISSUER=... JWT_PUBLIC_KEY=...`` would configure it."""
    environ = {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWT_PUBLIC_KEY": public_pem(RSA_KEY),
               "JWT_SECRET_KEY": JWT_SECRET, **settings}
    configured = config.TestConfig({key: value for key, value in environ.items() if value is not None})
    keys = [key for key in vars(configured) if key.startswith("MARKETPLACE_")] + ["JWT_DECODE_ALGORITHMS"]
    saved = {key: app.config.get(key) for key in keys}
    app.config.update({key: getattr(configured, key) for key in keys})
    app.extensions.pop("payflow_jwks_client", None)
    try:
        yield
    finally:
        app.config.update(saved)
        app.extensions.pop("payflow_jwks_client", None)


def users_named(subject: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User).where(User.external_subject == subject))


def me(client, encoded, **kwargs):
    return client.get("/auth/me", headers=bearer(encoded), **kwargs)


# --- accepted ----------------------------------------------------------------------------------


def test_a_marketplace_token_is_accepted_and_its_user_made_once_with_the_role_name_and_email(app, client):
    with marketplace(app):
        encoded = token("mkt-ana", role="company", name="Ana Studio", email="Ana@Studio.test")
        first = me(client, encoded)
        assert first.status_code == 200, first.get_json()
        user = first.get_json()["user"]
        assert (user["role"], user["name"], user["email"]) == ("company", "Ana Studio", "ana@studio.test")
        again = me(client, token("mkt-ana", role="company"))
        assert again.get_json()["user"]["id"] == user["id"]
    assert users_named("mkt-ana") == 1


def test_a_marketplace_user_can_use_the_api_as_any_user_of_its_role(app, client, factory):
    influencer = factory.user("influencer")
    with marketplace(app):
        company = bearer(token("mkt-company", role="company"))
        created = client.post("/payments", json={"influencerId": influencer.id, "amount": 2500, "currency": "usd"},
                              headers=company)
        assert created.status_code == 201, created.get_json()
        listed = client.get("/payments", headers=company).get_json()["items"]
        assert [item["id"] for item in listed] == [created.get_json()["id"]]
        assert client.get("/wallet", headers=company).status_code == 403


def test_payflows_own_tokens_and_logins_keep_working_beside_them(app, client, factory):
    user = factory.user("influencer")
    with marketplace(app):
        assert me(client, factory.headers(user)["Authorization"].split()[1]).status_code == 200
        login = client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
        assert login.status_code == 200
        assert me(client, login.get_json()["access_token"]).status_code == 200


def test_the_role_comes_from_the_configured_claim(app, client):
    with marketplace(app, JWT_ROLE_CLAIM="https://marketplace.example.test/role"):
        encoded = token(role=None, **{"https://marketplace.example.test/role": "influencer"})
        assert me(client, encoded).get_json()["user"]["role"] == "influencer"
        assert me(client, token(role="influencer")).status_code == 401  # the plain claim is not the one


def test_a_name_is_made_up_when_the_token_carries_none(app, client):
    with marketplace(app):
        body = me(client, token("mkt-nameless")).get_json()["user"]
    assert body["name"] == "mkt-nameless" and body["email"] is None


def test_an_email_that_belongs_to_a_payflow_account_is_not_linked_to_a_marketplace_user(app, client, factory):
    local = factory.user("company")
    with marketplace(app):
        body = me(client, token("mkt-claims-it", role="company", email=local.email)).get_json()["user"]
    assert body["id"] != local.id and body["email"] is None


def test_a_later_token_with_another_role_is_refused(app, client):
    with marketplace(app):
        assert me(client, token("mkt-switch", role="influencer")).status_code == 200
        refused = me(client, token("mkt-switch", role="company"))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "role_mismatch"


def test_the_marketplace_token_works_in_the_cookie_too_with_its_csrf_double_submit(app, client):
    with marketplace(app):
        encoded = token("mkt-cookie", csrf="csrf-value-1")
        client.set_cookie("access_token_cookie", encoded)
        assert client.get("/auth/me").status_code == 200
        assert client.post("/payments/stream/token").status_code == 401  # a cookie POST needs the header
        issued = client.post("/payments/stream/token", headers={"X-CSRF-TOKEN": "csrf-value-1"})
        assert issued.status_code == 200, issued.get_json()
        client.delete_cookie("access_token_cookie")


def test_es256_tokens_checked_against_a_jwks_served_over_http_and_cached(app, client):
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key()))
    jwk.update(kid="key-1", use="sig", alg="ES256")
    with jwks_server({"keys": [jwk]}) as server:
        with marketplace(app, JWT_PUBLIC_KEY=None, JWT_JWKS_URL=server.url, JWT_ALGORITHM="ES256"):
            for number in range(3):
                encoded = token("mkt-jwks", key=EC_KEY, algorithm="ES256", headers={"kid": "key-1"})
                assert me(client, encoded).status_code == 200
            assert server.requests == 1  # the key set is fetched once and kept
            unknown_kid = token("mkt-jwks", key=EC_KEY, algorithm="ES256", headers={"kid": "key-2"})
            assert me(client, unknown_kid).status_code == 401


# --- refused ----------------------------------------------------------------------------------


def other_issuer():
    return token(issuer="https://elsewhere.example.test")


REFUSED = {
    "another issuer": other_issuer,
    "another audience": lambda: token(audience="someone-else"),
    "signed with another key": lambda: token(key=OTHER_RSA_KEY),
    "expired": lambda: token(expires_in=-30),
    "no expiry": lambda: pyjwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "mkt-x", "role": "company"}, RSA_KEY,
                                      algorithm="RS256"),
    "another algorithm than configured": lambda: token(key=EC_KEY, algorithm="ES256"),
    "HS256 with the public key as secret": lambda: pyjwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mkt-x", "role": "company", "exp": int(time.time()) + 60},
        "a secret the attacker chose, long enough for HS256", algorithm="HS256"),
    "an unknown role": lambda: token(role="superuser"),
    "no subject": lambda: pyjwt.encode({"iss": ISSUER, "aud": AUDIENCE, "role": "company",
                                        "exp": int(time.time()) + 60}, RSA_KEY, algorithm="RS256"),
    "a subject holding NUL": lambda: token("mkt-\x00-x"),
    "a subject with a line break": lambda: token("mkt-1\nmkt-2"),
    "no role": lambda: token(role=None),
    "a role that is a list": lambda: token(role=["company"]),
    "not signed (alg none)": lambda: pyjwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "mkt-x", "role": "company",
                                                   "exp": int(time.time()) + 60}, None, algorithm="none"),
    "a refresh token of the marketplace": lambda: token(type="refresh"),
}


@pytest.mark.parametrize("kind", REFUSED)
def test_a_bad_marketplace_token_is_refused_with_401_and_the_json_error(app, client, kind):
    with marketplace(app):
        response = me(client, REFUSED[kind]())
        stream = client.get("/payments/stream", headers=bearer(REFUSED[kind]()))
    for answer in (response, stream):
        assert answer.status_code == 401, (kind, answer.get_data(as_text=True))
        error = answer.get_json()["error"]
        assert error["code"] and error["message"]
    assert db.session.scalar(select(func.count()).select_from(User).where(User.external_issuer.is_not(None))) == 0


@pytest.mark.parametrize("token_type", [None, "access", "refresh"])
def test_a_marketplace_token_never_refreshes_into_a_payflow_token(app, client, token_type):
    """The marketplace renews its own tokens: /auth/refresh takes payflow's refresh tokens only."""
    with marketplace(app):
        answer = client.post("/auth/refresh", headers=bearer(token(type=token_type)))
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert "access_token" not in answer.get_json()


def test_without_jwt_issuer_marketplace_tokens_are_refused(app, client):
    assert me(client, token()).status_code == 401


@pytest.mark.parametrize("environ, message", [
    ({"JWT_ISSUER": ISSUER}, "exactly one of"),
    ({"JWT_PUBLIC_KEY": public_pem(RSA_KEY)}, "without JWT_ISSUER"),
    ({"JWT_ISSUER": ISSUER, "JWT_JWKS_URL": "http://x", "JWT_PUBLIC_KEY": public_pem(RSA_KEY)}, "exactly one of"),
    ({"JWT_ISSUER": ISSUER, "JWT_JWKS_URL": "http://x", "JWT_ALGORITHM": "HS256"}, "public-key algorithms"),
])
def test_an_incomplete_marketplace_configuration_is_refused_at_start(environ, message):
    with pytest.raises(config.ConfigError, match=message):
        config.TestConfig(environ)


def test_a_key_with_escaped_line_breaks_or_in_a_file_is_read(tmp_path):
    pem = public_pem(RSA_KEY)
    escaped = config.TestConfig({"JWT_ISSUER": ISSUER, "JWT_PUBLIC_KEY": pem.replace("\n", "\\n")})
    path = tmp_path / "marketplace.pem"
    path.write_text(pem)
    from_file = config.TestConfig({"JWT_ISSUER": ISSUER, "JWT_PUBLIC_KEY": str(path)})
    assert escaped.MARKETPLACE_JWT_PUBLIC_KEY == from_file.MARKETPLACE_JWT_PUBLIC_KEY == pem.strip()


# --- first sight, concurrently -----------------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_concurrent_first_requests_of_one_marketplace_user_make_exactly_one_user(app):
    subject = f"mkt-race-{uuid.uuid4().hex[:8]}"
    encoded = token(subject, role="influencer", email=f"{subject}@marketplace.test")

    def first_request():
        response = app.test_client().get("/auth/me", headers=bearer(encoded))
        return response.status_code, response.get_json()["user"]["id"]

    with marketplace(app):
        outcomes = race(app, *[first_request] * 8)
    assert all(not isinstance(outcome, BaseException) for outcome in outcomes), outcomes
    assert {status for status, _ in outcomes} == {200}
    assert len({user_id for _, user_id in outcomes}) == 1
    assert users_named(subject) == 1


# --- the stream, in a real web process ---------------------------------------------------------


def test_a_marketplace_token_opens_the_stream_as_header_and_through_a_stream_token(
        app, database_url, redis_server, localstripe):
    from payflow.publisher import publish

    env = server_environment(database_url, redis_server.url, localstripe.url, JWT_ISSUER=ISSUER,
                             JWT_AUDIENCE=AUDIENCE, JWT_PUBLIC_KEY=public_pem(RSA_KEY).replace("\n", "\\n"))
    [web] = start_web_processes([env])
    try:
        import requests

        encoded = token("mkt-streamer", role="influencer")
        issued = requests.post(f"{web.url}/payments/stream/token", headers=bearer(encoded), timeout=10)
        assert issued.status_code == 200, issued.text
        user_id = db.session.scalar(select(User.id).where(User.external_subject == "mkt-streamer"))
        by_header = SSEStream(web.port, "/payments/stream", headers=bearer(encoded))
        by_token = SSEStream(web.port, f"/payments/stream?token={issued.json()['token']}")
        try:
            channel = f"payflow:live:{user_id}"
            from payflow.extensions import redis_client
            from .webhook_helpers import wait_until

            wait_until(lambda: dict(redis_client.client.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1)
            time.sleep(0.2)
            entry_id = publish(user_id, "payment:update", {"paymentId": "pay_x", "status": "HELD", "amount": 1,
                                                           "currency": "usd", "message": "m", "n": 1,
                                                           "timestamp": "2026-01-01T00:00:00Z"})
            for stream in (by_header, by_token):
                [event] = stream.wait_events(1)
                assert event.id == entry_id
        finally:
            by_header.close()
            by_token.close()
        refused = requests.get(f"{web.url}/payments/stream", headers=bearer(token(expires_in=-5)), timeout=5,
                               stream=True)
        assert refused.status_code == 401
        refused.close()
    finally:
        web.stop()


class _JWKSHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.requests += 1
        body = json.dumps(self.server.jwks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def jwks_server(jwks: dict):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JWKSHandler)
    server.jwks, server.requests = jwks, 0
    server.url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
