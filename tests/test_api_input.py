"""Bad input is a 4xx JSON error naming the problem, never a 500; and the operations endpoints."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from payflow import create_app
from payflow.extensions import db
from payflow.models import Payment, Payout

from .conftest import make_config


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code:
        assert error["code"] == code
    return error


def payment_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Payment))


@pytest.fixture
def company(factory):
    return factory.user("company")


@pytest.fixture
def influencer(factory):
    return factory.user("influencer")


@pytest.fixture
def post_payment(client, factory, company):
    def post(**kwargs):
        return client.post("/payments", headers=factory.headers(company), **kwargs)

    return post


def valid_body(influencer) -> dict:
    return {"influencerId": influencer.id, "amount": 5000, "currency": "usd", "description": "Reel"}


# --- the body as a whole -------------------------------------------------------------------

MALFORMED_BODIES = {
    "truncated JSON": b'{"amount": 50',
    "not JSON at all": b"amount=50&currency=usd",
    "single quotes": b"{'amount': 50}",
    "invalid UTF-8": b'{"description": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", list(MALFORMED_BODIES))
def test_a_malformed_json_body_is_400_invalid_json(post_payment, case):
    response = post_payment(data=MALFORMED_BODIES[case], content_type="application/json")
    assert_error(response, 400, "invalid_json")
    assert payment_count() == 0


@pytest.mark.parametrize("body", [[], [{"amount": 5000}], "a string", 5000, None, True], ids=repr)
def test_a_json_body_that_is_not_an_object_is_400(post_payment, body):
    response = post_payment(data=json.dumps(body), content_type="application/json")
    assert_error(response, 400)
    assert payment_count() == 0


DEEP = b"[" * 100000 + b"]" * 100000


@pytest.mark.parametrize("path, role", [
    ("/payments", "company"),
    ("/payouts", "influencer"),
    ("/payments/pay_unknown/refund", "company"),
    ("/payments/pay_unknown/confirm", "company"),
    ("/auth/login", None),
    ("/auth/register", None),
])
@pytest.mark.parametrize("idempotency_key", [None, "deep-1"])
def test_a_body_nested_absurdly_deep_is_400_not_500(client, factory, path, role, idempotency_key):
    headers = factory.headers(factory.user(role)) if role else {}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = client.post(path, data=DEEP, content_type="application/json", headers=headers)
    assert_error(response, 400, "invalid_json")
    assert payment_count() == 0


def test_an_empty_body_on_create_is_400(post_payment):
    assert_error(post_payment(data=b"", content_type="application/json"), 400)


# --- fields of POST /payments ------------------------------------------------------------------

BAD_FIELDS = {
    "amount missing": ("amount", None),
    "currency missing": ("currency", None),
    "influencerId missing": ("influencerId", None),
    "amount as string": ("amount", "50"),
    "amount as float": ("amount", 50.5),
    "amount as whole float": ("amount", 50.0),
    "amount as boolean": ("amount", True),
    "amount negative": ("amount", -1),
    "amount zero": ("amount", 0),
    "amount too large": ("amount", 10**12),
    "amount null": ("amount", "__null__"),
    "currency unknown": ("currency", "xyz"),
    "currency as number": ("currency", 840),
    "currency empty": ("currency", ""),
    "influencerId as number": ("influencerId", 12),
    "description too long": ("description", "x" * 1001),
    "description as list": ("description", ["a"]),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_bad_payment_field_is_400_naming_the_field_and_creates_nothing(post_payment, influencer, case):
    field, value = BAD_FIELDS[case]
    body = valid_body(influencer)
    if value is None:
        del body[field]
    else:
        body[field] = None if value == "__null__" else value
    response = post_payment(json=body)
    error = assert_error(response, 400, "invalid_request")
    assert field in error["message"]
    assert payment_count() == 0


def test_an_unknown_extra_field_is_400(post_payment, influencer):
    response = post_payment(json={**valid_body(influencer), "fee": 0})
    error = assert_error(response, 400, "invalid_request")
    assert "fee" in error["message"]
    assert payment_count() == 0


def test_an_uppercase_currency_is_accepted_and_stored_lowercase(client, factory, company, post_payment, influencer):
    response = post_payment(json={**valid_body(influencer), "currency": "USD"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["currency"] == "usd"
    db.session.expire_all()
    assert db.session.get(Payment, response.get_json()["id"]).currency == "usd"


def test_the_largest_amount_stripe_allows_is_accepted(post_payment, influencer):
    response = post_payment(json={**valid_body(influencer), "amount": 99_999_999})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["amount"] == 99_999_999


def test_an_unknown_influencer_is_422(post_payment, influencer):
    response = post_payment(json={**valid_body(influencer), "influencerId": "usr_does_not_exist"})
    assert_error(response, 422, "unknown_influencer")
    assert payment_count() == 0


def test_an_influencer_id_naming_a_company_is_422(post_payment, influencer, factory):
    other_company = factory.user("company")
    response = post_payment(json={**valid_body(influencer), "influencerId": other_company.id})
    assert_error(response, 422, "unknown_influencer")
    assert payment_count() == 0


# --- bodies of the other writes ------------------------------------------------------------------


def test_a_payout_with_a_bad_body_is_400_and_takes_nothing(client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    headers = factory.headers(influencer)
    for body in ({"amount": "10", "currency": "eur"}, {"amount": 10, "currency": "xyz"}, {"amount": 10}, {"amount": 0, "currency": "eur"}):
        assert_error(client.post("/payouts", json=body, headers=headers), 400, "invalid_request")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert client.get("/wallet", headers=headers).get_json()["wallets"][0]["availableBalance"] == 10000


def test_a_payout_over_the_available_balance_is_422(client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    response = client.post("/payouts", json={"amount": 10001, "currency": "eur"}, headers=factory.headers(influencer))
    assert_error(response, 422, "insufficient_funds")


@pytest.mark.parametrize("body", [{"amount": 0}, {"amount": "100"}, {"amount": 1.5}, {"reason": "x"}], ids=repr)
def test_a_refund_with_a_bad_body_is_400(client, factory, body):
    payment = factory.payment()
    response = client.post(f"/payments/{payment.id}/refund", json=body, headers=factory.headers(payment.company))
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("body", [{}, {"paymentMethod": ""}, {"paymentMethod": 4242}], ids=repr)
def test_a_confirm_without_a_usable_payment_method_is_400(client, factory, body):
    payment = factory.payment()
    response = client.post(f"/payments/{payment.id}/confirm", json=body, headers=factory.headers(payment.company))
    assert_error(response, 400, "invalid_request")
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "PENDING"


@pytest.mark.parametrize(
    "query, code",
    [("limit=abc", "invalid_limit"), ("limit=0", "invalid_limit"), ("limit=101", "invalid_limit"), ("cursor=!!!", "invalid_cursor"), ("cursor=Zm9v", "invalid_cursor")],
)
def test_bad_pagination_parameters_are_400(client, factory, company, query, code):
    response = client.get(f"/payments?{query}", headers=factory.headers(company))
    assert_error(response, 400, code)


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(b"after:" + raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "role, path, code",
    [
        ("company", "/payments?limit=%C2%B2", "invalid_limit"),  # "²" is a digit to str.isdigit
        ("influencer", f"/wallet/transactions?cursor={_cursor(b'9' * 30)}", "invalid_cursor"),
        ("company", f"/payments?cursor={_cursor(bytes(1))}", "invalid_cursor"),
    ],
    ids=["superscript limit", "cursor past 64 bits", "cursor with NUL"],
)
def test_exotic_pagination_parameters_are_400_not_500(client, factory, role, path, code):
    response = client.get(path, headers=factory.headers(factory.user(role)))
    assert_error(response, 400, code)


# PostgreSQL refuses text containing NUL: it must be a 400 there too, not a 500.
NUL_IN_URL = [
    ("company", "GET", "/payments/pay%00x"),
    ("company", "POST", "/payments/pay%00x/release"),
    ("influencer", "GET", "/payouts/po%00x"),
    ("influencer", "POST", "/notifications/ntf%00x/read"),
    ("influencer", "GET", "/wallet/transactions?currency=%00"),
]


@pytest.mark.parametrize("role, method, path", NUL_IN_URL, ids=[row[2] for row in NUL_IN_URL])
def test_a_nul_character_in_the_url_is_400_not_500(client, factory, role, method, path):
    response = client.open(path, method=method, headers=factory.headers(factory.user(role)))
    assert_error(response, 400)


def test_a_nul_character_in_a_payment_field_is_400_not_500(post_payment, influencer):
    for field in ("description", "influencerId", "currency"):
        body = valid_body(influencer)
        body[field] = body[field] + "\x00"
        error = assert_error(post_payment(json=body), 400, "invalid_request")
        assert field in error["message"]
    assert payment_count() == 0


@pytest.mark.parametrize(
    "path, body",
    [
        ("/auth/register", {"email": "nul\x00@example.test", "password": "long enough pw", "role": "company", "name": "N"}),
        ("/auth/register", {"email": "nul@example.test", "password": "long enough pw", "role": "company", "name": "N\x00"}),
        ("/auth/login", {"email": "nul\x00@example.test", "password": "long enough pw"}),
    ],
    ids=["register email", "register name", "login email"],
)
def test_a_nul_character_in_credentials_is_400_not_500(client, path, body):
    assert_error(client.post(path, json=body), 400, "invalid_request")


# --- HTTP-level errors -------------------------------------------------------------------------


def test_an_unknown_path_is_a_json_404(client):
    assert_error(client.get("/no/such/path"), 404, "not_found")


def test_an_unknown_payment_id_is_a_json_404(client, factory, company):
    assert_error(client.get("/payments/pay_missing", headers=factory.headers(company)), 404, "not_found")


@pytest.mark.parametrize("method, path", [("DELETE", "/payments"), ("PUT", "/wallet"), ("GET", "/auth/login")])
def test_a_wrong_method_is_a_json_405(client, method, path):
    assert_error(client.open(path, method=method), 405, "method_not_allowed")


def test_a_body_over_one_mebibyte_is_413(post_payment, influencer):
    body = b'{"description": "' + b"x" * (1024 * 1024) + b'"}'
    response = post_payment(data=body, content_type="application/json")
    assert_error(response, 413)
    assert payment_count() == 0


# --- operations ------------------------------------------------------------------------------


def test_healthz_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_readyz_answers_200_when_the_database_and_redis_are_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_metrics_expose_request_counts_and_durations_in_prometheus_format(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE payflow_http_requests_total counter" in text
    assert "# TYPE payflow_http_request_duration_seconds histogram" in text
    healthz_count = [
        line for line in text.splitlines()
        if line.startswith("payflow_http_requests_total{") and 'endpoint="/healthz"' in line and 'status="200"' in line
    ]
    assert healthz_count and float(healthz_count[0].rsplit(" ", 1)[1]) >= 1
    assert 'payflow_http_request_duration_seconds_bucket{endpoint="/healthz"' in text


def readyz_of(config):
    """GET /readyz from a second app built on ``config``; its connections are closed after."""
    other = create_app(config)
    try:
        return other.test_client().get("/readyz")
    finally:
        with other.app_context():
            db.engine.dispose()


def test_readyz_answers_503_not_500_when_redis_is_unreachable(database_url, localstripe):
    response = readyz_of(make_config(database_url, "redis://127.0.0.1:1/0", localstripe.url))
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable")


@pytest.mark.backends("postgresql")
def test_readyz_answers_503_not_500_when_the_database_is_unreachable(database_url, redis_server, localstripe):
    response = readyz_of(make_config("postgresql://postgres@127.0.0.1:1/payflow", redis_server.url, localstripe.url))
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["redis"] == "ok"
