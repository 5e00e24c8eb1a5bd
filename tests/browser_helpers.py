"""What the browser tests drive the product with: Chromium through Playwright, and users over the API.

The product itself (gunicorn and an RQ worker) is started by ``devstack`` (see
``browser_fixtures.py``). ``PageWatch`` collects every JavaScript error and console error of a
page, so a test can assert there were none.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import requests

from .webhook_helpers import SECRET

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PAYFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PASSWORD = "correct horse battery"


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def register_webhooks(localstripe_url: str, server_url: str) -> None:
    """Have localstripe sign and send its events to this server, as Stripe would."""
    response = requests.post(
        f"{localstripe_url}/_config/webhooks/payflow",
        data={"url": f"{server_url}/payments/webhook", "secret": SECRET},
        timeout=5,
    )
    response.raise_for_status()


class ApiUser:
    """A user driven over the HTTP API with a Bearer token (the test's own hands)."""

    def __init__(self, base_url: str, role: str, name: str | None = None):
        self.base_url = base_url
        self.email = f"{role}-{time.time_ns()}@browser.test"
        self.password = PASSWORD
        self.session = requests.Session()
        response = self.session.post(f"{base_url}/auth/register", json={
            "email": self.email, "password": self.password, "role": role, "name": name or f"Test {role}",
        }, timeout=10)
        assert response.status_code == 201, response.text
        body = response.json()
        self.id = body["user"]["id"]
        self.name = body["user"]["name"]
        self.session.cookies.clear()  # the Bearer header only, no cookies (and so no CSRF)
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def post(self, path: str, json=None) -> requests.Response:
        return self.session.post(f"{self.base_url}{path}", json=json, timeout=30)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", timeout=30)

    def create_payment(self, influencer: "ApiUser", amount: int, currency: str = "usd", description: str = "Campaign") -> dict:
        response = self.post("/payments", {"influencerId": influencer.id, "amount": amount, "currency": currency,
                                           "description": description})
        assert response.status_code == 201, response.text
        return response.json()

    def pay(self, payment_id: str, number: str = "4242424242424242") -> requests.Response:
        return self.post(f"/payments/{payment_id}/test-card", {"number": number, "expMonth": 12, "expYear": 2034, "cvc": "123"})


class PageWatch:
    """Every uncaught JavaScript error and console error of a page."""

    # What Chromium itself logs for an expected HTTP answer (a declined card is a 402) or for a
    # server that is away during a restart; neither is a JavaScript error.
    RESOURCE = re.compile(r"^Failed to load resource: ")

    def __init__(self, page, name: str):
        self.name = name
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", lambda message: self.console_errors.append(message.text) if message.type == "error" else None)

    def problems(self, allowed_statuses=(), allow_network_errors=False) -> list[str]:
        found = [f"{self.name}: uncaught {error}" for error in self.page_errors]
        for text in self.console_errors:
            if self.RESOURCE.match(text):
                status = re.search(r"status of (\d{3})", text)
                if status and int(status.group(1)) in allowed_statuses:
                    continue
                if allow_network_errors and "net::ERR_" in text:
                    continue
            if allow_network_errors and ("EventSource" in text or "net::ERR_" in text):
                continue
            found.append(f"{self.name}: console error {text}")
        return found


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header is drawn where the page is scrolled to
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled")


def sign_in(page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/")
    form = page.locator("#login-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def toast(page, text: str):
    return page.locator("#toasts .toast", has_text=text)


def payment_row(page, payment_id: str):
    return page.locator(f'li[data-payment-id="{payment_id}"]')

