"""What the offline Stripe's tests share: a webhook receiver, a Stripe client and money to move."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
import stripe

from .services import free_port

API_KEY = "sk_test_standin"


def client_for(url: str) -> stripe.StripeClient:
    """Stripe's own Python client pointed at the stand-in; no retries, so every answer is the first."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)


def wait_until(check, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"nothing after {timeout}s")


class Delivery:
    def __init__(self, path: str, headers: dict, body: str):
        self.path = path
        self.headers = headers
        self.body = body
        self.event = json.loads(body)

    def verified(self, secret: str) -> stripe.Event:
        """The event as Stripe's library accepts it; raises SignatureVerificationError otherwise."""
        return stripe.Webhook.construct_event(self.body, self.headers["Stripe-Signature"], secret)


class Receiver:
    """An HTTP server standing in for payflow's webhook: it keeps every delivery, per path."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        self.refusals: dict[str, int] = {}  # path -> number of deliveries still to answer 500
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    refuse = receiver.refusals.get(self.path, 0)
                    if refuse:
                        receiver.refusals[self.path] = refuse - 1
                    else:
                        receiver.deliveries.append(Delivery(self.path, dict(self.headers), body))
                self.send_response(500 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str, event_type: str | None = None, object_id: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path
                    and event_type in (None, d.event["type"])
                    and object_id in (None, d.event["data"]["object"].get("id"))]

    def wait(self, path: str, event_type: str, object_id: str | None = None, count: int = 1,
             timeout: float = 10.0) -> list[Delivery]:
        return wait_until(lambda: (found := self.at(path, event_type, object_id)) and len(found) >= count and found,
                          timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def endpoint(client: stripe.StripeClient, url: str, *, connect: bool, events: list[str] | None = None):
    """A webhook endpoint; its ``secret`` is only in this answer."""
    return client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": events or ["*"], "connect": connect,
                "description": "connect" if connect else "platform"}
    )


def onboarded_account(client: stripe.StripeClient, standin_url: str, country: str = "US"):
    account = client.v1.accounts.create(params={
        "type": "express", "country": country, "capabilities": {"transfers": {"requested": True}},
        "settings": {"payouts": {"schedule": {"interval": "manual"}}},
    })
    requests.post(f"{standin_url}/_config/accounts/{account.id}/onboard", timeout=5).raise_for_status()
    return client.v1.accounts.retrieve(account.id)


def transfer(client: stripe.StripeClient, account_id: str, amount: int, currency: str, **params):
    return client.v1.transfers.create(params={"amount": amount, "currency": currency, "destination": account_id,
                                              **params})


def available(client: stripe.StripeClient, account_id: str) -> dict[str, int]:
    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    return {item.currency: item.amount for item in balance.available}


def paid_intent(client: stripe.StripeClient, amount: int, currency: str = "usd"):
    """A PaymentIntent paid with localstripe's test card, as payflow pays one."""
    card = client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
    })
    intent = client.v1.payment_intents.create(params={"amount": amount, "currency": currency,
                                                      "metadata": {"payment_id": "pay_1"}})
    client.v1.payment_intents.update(intent.id, params={"payment_method": card.id})
    return client.v1.payment_intents.confirm(intent.id)


def config(standin_url: str, path: str, **data) -> dict:
    response = requests.post(f"{standin_url}/_config/{path}", data=data, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()
