"""``/openapi.json`` describes every route, and the answers match what it says."""
from __future__ import annotations

import os
import re

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

import config
from payflow import create_app, serializers, wallet
from payflow.api import openapi, schemas
from payflow.models import Notification, Payout
from payflow.extensions import db
from payflow.webhooks import simulate

from .webhook_helpers import deliver, release_test_session, run_jobs

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.get_json()


# --- the document -----------------------------------------------------------------------


def test_every_registered_route_and_method_is_in_the_document(app, client):
    paths = document(client)["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods & HTTP_METHODS):
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert missing == [], "declare these routes with @operation(...): " + ", ".join(missing)
    assert openapi.undocumented(app) == []


def test_a_route_added_without_a_declaration_is_reported_as_missing(tmp_path):
    fresh = create_app(config.TestConfig({"DATABASE_URL": f"sqlite:///{tmp_path}/payflow.db",
                                          "JWT_SECRET_KEY": "k" * 40}))
    fresh.add_url_rule("/an-undeclared-route", "undeclared_for_test", lambda: "", methods=["GET", "POST"])
    assert openapi.undocumented(fresh) == ["['GET', 'POST'] /an-undeclared-route"]
    paths = fresh.test_client().get("/openapi.json").get_json()["paths"]
    assert "/an-undeclared-route" not in paths


def test_the_document_is_openapi_3_1_with_valid_json_schemas(client):
    doc = document(client)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "payflow" and doc["info"]["license"]["identifier"] == "MIT"
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])


def test_request_bodies_come_from_the_models_that_validate_them(client):
    doc = document(client)
    create = doc["paths"]["/payments"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreatePaymentBody"}
    body = doc["components"]["schemas"]["CreatePaymentBody"]
    assert set(body["required"]) == {"influencerId", "amount", "currency"}
    assert body["properties"]["amount"]["type"] == "integer" and body["properties"]["amount"]["exclusiveMinimum"] == 0
    assert body["additionalProperties"] is False
    register = doc["components"]["schemas"]["RegisterBody"]
    assert register["properties"]["role"]["enum"] == ["company", "influencer"]


def test_every_error_answer_has_the_error_shape(client):
    doc = document(client)
    error = {"$ref": "#/components/schemas/Error"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for status, answer in op["responses"].items():
                if int(status) >= 400 and (path, status) not in {("/readyz", "503")} and status != "402":
                    assert answer["content"]["application/json"]["schema"] == error, (method, path, status)
    assert set(doc["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message"}


def test_security_schemes_cover_bearer_tokens_and_the_cookie_with_its_csrf_header(client):
    doc = document(client)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie" and schemes["cookieAuth"]["name"] == "access_token_cookie"
    assert schemes["csrfHeader"]["in"] == "header" and schemes["csrfHeader"]["name"] == "X-CSRF-TOKEN"
    create = doc["paths"]["/payments"]["post"]
    assert {"bearerAuth": []} in create["security"]
    assert {"cookieAuth": [], "csrfHeader": []} in create["security"]
    assert {"cookieAuth": []} in doc["paths"]["/payments"]["get"]["security"]
    assert {"streamToken": []} in doc["paths"]["/payments/stream"]["get"]["security"]
    assert doc["paths"]["/payments/webhook"]["post"]["security"] == []
    assert "403" in create["responses"] and "401" in create["responses"]
    assert "Roles: company" in create["description"]


def test_login_and_register_document_the_rate_limit_answer(client):
    doc = document(client)
    for path in ("/auth/login", "/auth/register"):
        answer = doc["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in answer["headers"]


# --- the documentation page ---------------------------------------------------------------


def test_docs_render_the_document_with_swagger_ui_served_by_payflow_itself(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html
    assets = [asset for asset in re.findall(r"(?:src|href)=\"([^\"]+)\"", html) if asset != "data:,"]
    assert assets and all(asset.startswith("/static/") for asset in assets), assets
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.data) > 100, asset
        served.close()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "http" not in policy


# --- the answers match their schemas --------------------------------------------------------


def conforms(model, body) -> None:
    try:
        model.model_validate(body)
    except ValidationError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"{model.__name__}: {exc}\n{body}") from exc


def test_the_main_answers_match_their_models(app, client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    registered = client.post("/auth/register", json={"email": "new@example.test", "password": "long enough pw",
                                                     "role": "company", "name": "New"})
    conforms(schemas.Session, registered.get_json())
    conforms(schemas.Me, client.get("/auth/me", headers=factory.headers(company)).get_json())

    created = client.post("/payments", json={"influencerId": influencer.id, "amount": 5000, "currency": "usd"},
                          headers=factory.headers(company))
    assert created.status_code == 201
    conforms(schemas.Payment, created.get_json())
    assert created.get_json()["clientSecret"]
    payment_id = created.get_json()["id"]
    confirmed = client.post(f"/payments/{payment_id}/confirm", json={"paymentMethod": factory.card()},
                            headers=factory.headers(company))
    conforms(schemas.Payment, confirmed.get_json())
    conforms(schemas.Payment, client.get(f"/payments/{payment_id}", headers=factory.headers(influencer)).get_json())
    conforms(schemas.PaymentPage, client.get("/payments", headers=factory.headers(company)).get_json())
    released = client.post(f"/payments/{payment_id}/release", headers=factory.headers(company))
    conforms(schemas.Payment, released.get_json())
    refund = client.post(f"/payments/{payment_id}/refund", json={"amount": 100}, headers=factory.headers(company))
    assert refund.status_code == 202
    conforms(schemas.Refund, refund.get_json())

    declined = factory.payment(company, influencer)
    answer = client.post(f"/payments/{declined.id}/test-card",
                         json={"number": "4000000000000341", "expMonth": 12, "expYear": 2034, "cvc": "123"},
                         headers=factory.headers(company))
    assert answer.status_code == 402
    conforms(schemas.PaymentDeclined, answer.get_json())

    conforms(schemas.Wallets, client.get("/wallet", headers=factory.headers(influencer)).get_json())
    conforms(schemas.WalletLinePage, client.get("/wallet/transactions", headers=factory.headers(influencer)).get_json())
    earner = factory.funded_influencer(5000, "eur")  # localstripe pays out in EUR
    payout = client.post("/payouts", json={"amount": 100, "currency": "eur"}, headers=factory.headers(earner))
    assert payout.status_code == 201, payout.get_json()
    conforms(schemas.Payout, payout.get_json())
    payouts = client.get("/payouts", headers=factory.headers(earner)).get_json()
    conforms(schemas.PayoutPage, payouts)
    assert payouts["items"]
    notes = client.get("/notifications", headers=factory.headers(company)).get_json()
    conforms(schemas.NotificationPage, notes)
    assert notes["items"]
    read = client.post(f"/notifications/{notes['items'][0]['id']}/read", headers=factory.headers(company))
    conforms(schemas.Notification, read.get_json())
    conforms(schemas.StreamToken, client.post("/payments/stream/token", headers=factory.headers(company)).get_json())
    conforms(schemas.Health, client.get("/healthz").get_json())
    conforms(schemas.Readiness, client.get("/readyz").get_json())
    conforms(schemas.InfluencerRef, client.get(f"/influencers?email={influencer.email}",
                                               headers=factory.headers(company)).get_json())
    for error in (client.get("/payments/nope", headers=factory.headers(company)),
                  app.test_client().get("/payments"),
                  client.post("/payouts", json={"amount": 10 ** 7, "currency": "usd"}, headers=factory.headers(earner)),
                  client.post("/payments", json={"amount": "5"}, headers=factory.headers(company))):
        assert error.status_code >= 400
        conforms(schemas.Error, error.get_json())


def test_webhook_answers_match_their_model(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    conforms(schemas.WebhookReceived, deliver(client, event).get_json())
    conforms(schemas.WebhookReceived, deliver(client, event).get_json())
    run_jobs(app)


def test_serializers_give_exactly_the_documented_fields(app, factory):
    """The serializers are held to the models field by field: no undeclared field, no other type."""
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer)
    conforms(schemas.Payment, serializers.payment(payment, viewer=company))
    conforms(schemas.Payment, serializers.payment(payment, viewer=influencer))
    conforms(schemas.User, serializers.user(company))
    release_test_session()
    funded = factory.funded_influencer(5000, "eur")
    conforms(schemas.Payout, serializers.payout(factory.payout(funded, 1000, "eur")))
    for view in wallet.wallets_for(funded.id):
        conforms(schemas.Wallet, view)
    note = db.session.scalars(db.select(Notification)).first()
    conforms(schemas.Notification, serializers.notification(note))
    extra = {**serializers.payout(db.session.scalars(db.select(Payout)).first()), "unexpected": 1}
    with pytest.raises(AssertionError):
        conforms(schemas.Payout, extra)


@pytest.mark.backends("sqlite")
def test_the_docs_page_renders_every_operation_in_chromium_without_errors(app):
    from .browser_helpers import CHROMIUM, CHROMIUM_ARGS, PageWatch, browser_unavailable, screenshot
    from .webhook_helpers import ServedApp

    reason = browser_unavailable()
    if reason:
        if os.environ.get("PAYFLOW_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    served = ServedApp(app)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                watch = PageWatch(page, "docs")
                page.goto(f"{served.url}/docs")
                page.wait_for_selector(".opblock", timeout=20000)
                operations = page.locator(".opblock").count()
                screenshot(page, "openapi-docs")
                assert operations == sum(len(methods) for methods in openapi.build(app)["paths"].values())
                assert page.locator("text=Create a payment to an influencer").count() == 1
                assert watch.problems() == []
            finally:
                browser.close()
    finally:
        served.stop()
