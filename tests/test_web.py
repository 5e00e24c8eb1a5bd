"""The dashboard page, its static files, and ``GET /influencers?email=`` (the company's lookup)."""
from __future__ import annotations

import json
import re

import pytest


def _client_config(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="payflow-config">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_the_dashboard_is_served_at_the_root_with_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'src="/static/dashboard.js"' in html and 'href="/static/dashboard.css"' in html
    assert 'role="status"' in html and 'aria-live="polite"' in html
    config = _client_config(html)
    assert config["stripePublishableKey"] is None and config["testCards"] is True
    # the browser formats money with the server's table of minor-unit exponents
    assert config["currencies"]["usd"] == 2 and config["currencies"]["jpy"] == 0 and len(config["currencies"]) > 100
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_the_dashboard_offers_stripe_js_when_a_publishable_key_is_set_and_no_test_cards_when_live(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_PUBLISHABLE_KEY", "pk_live_123")
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_live_123")
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", None)
    config = _client_config(client.get("/").get_data(as_text=True))
    assert (config["stripePublishableKey"], config["testCards"]) == ("pk_live_123", False)


def test_the_config_in_the_page_cannot_break_out_of_its_script_element(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_PUBLISHABLE_KEY", "</script><script>alert(1)</script>")
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert _client_config(html)["stripePublishableKey"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize("name, mimetype", [
    ("payflow-client.js", "text/javascript"),
    ("toasts.js", "text/javascript"),
    ("dashboard.js", "text/javascript"),
    ("dashboard.css", "text/css"),
])
def test_the_browser_files_are_served_under_static(client, name, mimetype):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype


def test_a_company_finds_an_influencer_by_exact_email(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer", name="Riley")
    response = client.get(f"/influencers?email={influencer.email.upper()}", headers=factory.headers(company))
    assert response.status_code == 200
    assert response.get_json() == {"id": influencer.id, "name": "Riley"}


def test_the_influencer_lookup_finds_only_influencers_and_only_for_companies(client, factory):
    company, other_company, influencer = factory.user("company"), factory.user("company"), factory.user("influencer")
    headers = factory.headers(company)
    assert client.get(f"/influencers?email={other_company.email}", headers=headers).status_code == 404
    assert client.get("/influencers?email=nobody@example.test", headers=headers).status_code == 404
    assert client.get(f"/influencers?email={influencer.email[:5]}", headers=headers).status_code == 404
    missing = client.get("/influencers", headers=headers)
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "invalid_request"
    assert client.get(f"/influencers?email={influencer.email}").status_code == 401
    as_influencer = client.get(f"/influencers?email={influencer.email}", headers=factory.headers(influencer))
    assert as_influencer.status_code == 403
