"""Who may do what: every endpoint against every role, as a matrix.

Rules (SPEC section 4): no or bad token → 401; a role the endpoint is not for → 403;
another person's object → 404 (its existence is not revealed); the influencer named on
a payment can read it but not act on it; an admin reads every payment and may refund,
but never releases. A refused write changes nothing.
"""
from __future__ import annotations

from datetime import timedelta
from functools import cached_property

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import func, select

from payflow import payments
from payflow.extensions import db
from payflow.models import LedgerEntry, Notification, Payment, Payout, User
from payflow.unit_of_work import atomic

from .factories import DECLINED

PAYOUT_CURRENCY = "eur"


class World:
    """Two companies, two influencers and an admin; objects made on first use."""

    def __init__(self, client, factory):
        self.client = client
        self.factory = factory
        self.users = {
            "owner": factory.user("company"),
            "other_company": factory.user("company"),
            "named_influencer": factory.user("influencer"),
            "other_influencer": factory.user("influencer"),
            "admin": factory.user("admin"),
        }
        # the role names used by the per-role tables
        self.users["company"] = self.users["owner"]
        self.users["influencer"] = self.users["named_influencer"]
        self.ids = {name: user.id for name, user in self.users.items()}

    def headers(self, actor: str | None) -> dict:
        return {} if actor is None else self.factory.headers(self.users[actor])

    def payment_in(self, status: str) -> str:
        """The id of a payment from owner to named_influencer in ``status``, through Stripe."""
        cache = self.__dict__.setdefault("_payments", {})
        if status not in cache:
            if status == payments.FAILED:
                payment_id = self.factory.payment(self.users["owner"], self.users["named_influencer"]).id
                declined = self.client.post(
                    f"/payments/{payment_id}/confirm",
                    json={"paymentMethod": self.factory.card(DECLINED)},
                    headers=self.headers("owner"),
                )
                assert declined.status_code == 402, declined.get_json()
            else:
                payment_id = self.factory.payment(self.users["owner"], self.users["named_influencer"], status=status).id
            cache[status] = payment_id
        return cache[status]

    @cached_property
    def funded(self) -> bool:
        """Give named_influencer 10.00 EUR available (a released payment), without Stripe."""
        owner, influencer = self.users["owner"], self.users["named_influencer"]
        payment = self.factory.held_payment_direct(owner, influencer, 2000, PAYOUT_CURRENCY)
        payments.release_payment(owner, payment.id)
        return True

    @cached_property
    def payout_id(self) -> str:
        assert self.funded
        return self.factory.payout(self.users["named_influencer"], 500, PAYOUT_CURRENCY).id

    @cached_property
    def notification_id(self) -> str:
        """A notification addressed to named_influencer."""
        self.payment_in(payments.HELD)  # "Payment Secured" for the influencer
        return db.session.scalar(
            select(Notification.id).where(Notification.user_id == self.ids["named_influencer"]).limit(1)
        )

    def card(self) -> str:
        return self.factory.card()


def _create_payment(w: World):
    body = {"influencerId": w.ids["named_influencer"], "amount": 5000, "currency": "usd", "description": "Reel"}
    return "POST", "/payments", body


def _request_payout(w: World):
    assert w.funded
    return "POST", "/payouts", {"amount": 1000, "currency": PAYOUT_CURRENCY}


# name -> function(world) -> (method, path, json body or None)
ENDPOINTS = {
    "POST /payments": _create_payment,
    "GET /payments": lambda w: ("GET", "/payments", None),
    "GET /payments/<id>": lambda w: ("GET", f"/payments/{w.payment_in(payments.PENDING)}", None),
    "POST /payments/<id>/confirm": lambda w: (
        "POST",
        f"/payments/{w.payment_in(payments.PENDING)}/confirm",
        {"paymentMethod": w.card()},
    ),
    "POST /payments/<id>/retry": lambda w: ("POST", f"/payments/{w.payment_in(payments.FAILED)}/retry", None),
    "POST /payments/<id>/release": lambda w: ("POST", f"/payments/{w.payment_in(payments.HELD)}/release", None),
    "POST /payments/<id>/refund": lambda w: ("POST", f"/payments/{w.payment_in(payments.HELD)}/refund", None),
    "GET /wallet": lambda w: ("GET", "/wallet", None),
    "GET /wallet/transactions": lambda w: ("GET", "/wallet/transactions", None),
    "POST /payouts": _request_payout,
    "GET /payouts": lambda w: ("GET", "/payouts", None),
    "GET /payouts/<id>": lambda w: ("GET", f"/payouts/{w.payout_id}", None),
    "GET /notifications": lambda w: ("GET", "/notifications", None),
    "POST /notifications/<id>/read": lambda w: ("POST", f"/notifications/{w.notification_id}/read", None),
    "GET /auth/me": lambda w: ("GET", "/auth/me", None),
}

WRITES = {name for name in ENDPOINTS if name.startswith("POST")}


@pytest.fixture
def world(client, factory):
    return World(client, factory)


def call(client, endpoint: str, world: World, headers: dict):
    method, path, body = ENDPOINTS[endpoint](world)
    return client.open(path, method=method, json=body, headers=headers)


def snapshot() -> dict:
    """Everything a refused request must leave as it was."""
    db.session.expire_all()
    return {
        "payments": db.session.execute(
            select(Payment.id, Payment.status, Payment.refunded_amount, Payment.stripe_payment_intent_id).order_by(Payment.id)
        ).all(),
        "payouts": db.session.execute(select(Payout.id, Payout.status).order_by(Payout.id)).all(),
        "ledger_entries": db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        "unread": db.session.scalars(select(Notification.id).where(Notification.read_at.is_(None)).order_by(Notification.id)).all(),
    }


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code:
        assert error["code"] == code
    return error


# --- no token, bad tokens ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_refuses_a_request_without_a_token(client, world, endpoint):
    # build the target first: building it may itself write (a payment to confirm, a payout to read)
    method, path, body = ENDPOINTS[endpoint](world)
    before = snapshot()
    response = client.open(path, method=method, json=body)
    assert_error(response, 401)
    assert snapshot() == before


def _expired(w: World) -> str:
    return create_access_token(identity=w.users["owner"], expires_delta=timedelta(seconds=-1))


def _foreign_signature(w: World) -> str:
    return pyjwt.encode(
        {"sub": w.ids["owner"], "type": "access", "fresh": False, "jti": "x", "iat": 0, "nbf": 0, "exp": 4102444800},
        "some-other-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )


def _unsigned(w: World) -> str:
    return pyjwt.encode({"sub": w.ids["owner"], "type": "access", "exp": 4102444800}, None, algorithm="none")


def _refresh(w: World) -> str:
    return create_refresh_token(identity=w.users["owner"])


def _deleted_user(w: World) -> str:
    ghost = w.factory.user("company")
    token = create_access_token(identity=ghost)
    with atomic():
        db.session.delete(db.session.get(User, ghost.id))
    return token


BAD_AUTHORIZATION = {
    "expired token": lambda w: f"Bearer {_expired(w)}",
    "garbage token": lambda w: "Bearer not-a-jwt",
    "garbage with dots": lambda w: "Bearer aaa.bbb.ccc",
    "empty bearer": lambda w: "Bearer ",
    "token signed with another key": lambda w: f"Bearer {_foreign_signature(w)}",
    "unsigned token": lambda w: f"Bearer {_unsigned(w)}",
    "refresh token used as access token": lambda w: f"Bearer {_refresh(w)}",
    "token of a deleted account": lambda w: f"Bearer {_deleted_user(w)}",
    "basic scheme": lambda w: "Basic dXNlcjpwYXNz",
}


@pytest.mark.parametrize("kind", list(BAD_AUTHORIZATION))
@pytest.mark.parametrize("endpoint", ["GET /auth/me", "GET /payments", "POST /payments"])
def test_a_bad_or_expired_token_gets_401_never_500(client, world, endpoint, kind):
    headers = {"Authorization": BAD_AUTHORIZATION[kind](world)}
    before = snapshot()
    response = call(client, endpoint, world, headers)
    assert_error(response, 401)
    assert snapshot() == before


def test_an_expired_token_says_it_has_expired(client, world):
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {_expired(world)}"})
    assert_error(response, 401, "token_expired")


# --- roles on endpoints that are not about one object --------------------------------------

ROLE_MATRIX = [
    ("POST /payments", "company", 201),
    ("POST /payments", "influencer", 403),
    ("POST /payments", "admin", 403),
    ("GET /payments", "company", 200),
    ("GET /payments", "influencer", 200),
    ("GET /payments", "admin", 200),
    ("GET /wallet", "influencer", 200),
    ("GET /wallet", "company", 403),
    ("GET /wallet", "admin", 403),
    ("GET /wallet/transactions", "influencer", 200),
    ("GET /wallet/transactions", "company", 403),
    ("GET /wallet/transactions", "admin", 403),
    ("POST /payouts", "influencer", 201),
    ("POST /payouts", "company", 403),
    ("POST /payouts", "admin", 403),
    ("GET /payouts", "influencer", 200),
    ("GET /payouts", "admin", 200),
    ("GET /payouts", "company", 403),
    ("GET /notifications", "company", 200),
    ("GET /notifications", "influencer", 200),
    ("GET /notifications", "admin", 200),
    ("GET /auth/me", "company", 200),
    ("GET /auth/me", "influencer", 200),
    ("GET /auth/me", "admin", 200),
]


@pytest.mark.parametrize(
    "endpoint, role, expected", [pytest.param(*row, id=f"{row[0]} as {row[1]} -> {row[2]}") for row in ROLE_MATRIX]
)
def test_each_role_gets_the_answer_the_matrix_gives(client, world, endpoint, role, expected):
    method, path, body = ENDPOINTS[endpoint](world)
    before = snapshot()
    response = client.open(path, method=method, json=body, headers=world.headers(role))
    if expected >= 400:
        assert_error(response, expected, "forbidden")
        assert snapshot() == before
    else:
        assert response.status_code == expected, response.get_json()
    if endpoint == "GET /auth/me" and expected == 200:
        assert response.get_json()["user"]["id"] == world.ids[role]
        assert response.get_json()["user"]["role"] == role


# --- roles and ownership on one payment ------------------------------------------------------

PAYMENT_MATRIX = [
    ("GET /payments/<id>", "owner", 200),
    ("GET /payments/<id>", "named_influencer", 200),
    ("GET /payments/<id>", "admin", 200),
    ("GET /payments/<id>", "other_company", 404),
    ("GET /payments/<id>", "other_influencer", 404),
    ("POST /payments/<id>/confirm", "owner", 200),
    ("POST /payments/<id>/confirm", "named_influencer", 403),
    ("POST /payments/<id>/confirm", "admin", 403),
    ("POST /payments/<id>/confirm", "other_company", 404),
    ("POST /payments/<id>/confirm", "other_influencer", 403),
    ("POST /payments/<id>/retry", "owner", 200),
    ("POST /payments/<id>/retry", "named_influencer", 403),
    ("POST /payments/<id>/retry", "admin", 403),
    ("POST /payments/<id>/retry", "other_company", 404),
    ("POST /payments/<id>/retry", "other_influencer", 403),
    ("POST /payments/<id>/release", "owner", 200),
    ("POST /payments/<id>/release", "named_influencer", 403),
    ("POST /payments/<id>/release", "admin", 403),
    ("POST /payments/<id>/release", "other_company", 404),
    ("POST /payments/<id>/release", "other_influencer", 403),
    ("POST /payments/<id>/refund", "owner", 202),
    ("POST /payments/<id>/refund", "admin", 202),
    ("POST /payments/<id>/refund", "named_influencer", 403),
    ("POST /payments/<id>/refund", "other_company", 404),
    ("POST /payments/<id>/refund", "other_influencer", 403),
]

# what an allowed request leaves the payment as (a refund waits for Stripe's charge.refunded)
STATUS_AFTER = {
    "GET /payments/<id>": "PENDING",
    "POST /payments/<id>/confirm": "HELD",
    "POST /payments/<id>/retry": "PENDING",
    "POST /payments/<id>/release": "RELEASED",
    "POST /payments/<id>/refund": "HELD",
}


@pytest.mark.parametrize(
    "endpoint, actor, expected", [pytest.param(*row, id=f"{row[0]} as {row[1]} -> {row[2]}") for row in PAYMENT_MATRIX]
)
def test_only_the_right_people_can_read_or_act_on_a_payment(client, world, endpoint, actor, expected):
    method, path, body = ENDPOINTS[endpoint](world)
    payment_id = path.split("/")[2]
    before = snapshot()
    response = client.open(path, method=method, json=body, headers=world.headers(actor))
    if expected >= 400:
        assert_error(response, expected, {403: "forbidden", 404: "not_found"}[expected])
        assert snapshot() == before
        if expected == 404:
            # the answer does not tell a stranger anything about the payment
            assert world.ids["named_influencer"] not in response.get_data(as_text=True)
        return
    assert response.status_code == expected, response.get_json()
    body = response.get_json()
    assert body.get("paymentId", body.get("id")) == payment_id  # a payment, or a refund of it
    db.session.expire_all()
    assert db.session.get(Payment, payment_id).status == STATUS_AFTER[endpoint]


def test_the_named_influencer_sees_the_payment_without_its_client_secret(client, world):
    payment_id = world.payment_in(payments.PENDING)
    as_owner = client.get(f"/payments/{payment_id}", headers=world.headers("owner")).get_json()
    as_influencer = client.get(f"/payments/{payment_id}", headers=world.headers("named_influencer")).get_json()
    assert as_owner["clientSecret"]
    assert "clientSecret" not in as_influencer
    assert as_influencer["amount"] == 5000 and as_influencer["companyId"] == world.ids["owner"]


def test_influencer_cannot_release_a_payment(client, world):
    payment_id = world.payment_in(payments.HELD)
    response = client.post(f"/payments/{payment_id}/release", headers=world.headers("named_influencer"))
    assert_error(response, 403)
    wallets = client.get("/wallet", headers=world.headers("named_influencer")).get_json()["wallets"]
    assert wallets[0]["availableBalance"] == 0 and wallets[0]["pendingBalance"] == 4500


def test_admin_can_refund_but_not_release(client, world):
    payment_id = world.payment_in(payments.HELD)
    released = client.post(f"/payments/{payment_id}/release", headers=world.headers("admin"))
    assert_error(released, 403, "forbidden")
    refunded = client.post(f"/payments/{payment_id}/refund", json={"amount": 1000}, headers=world.headers("admin"))
    assert refunded.status_code == 202, refunded.get_json()
    assert refunded.get_json()["amount"] == 1000 and refunded.get_json()["refundId"].startswith("re_")


# --- who sees which rows in the lists ------------------------------------------------------

PAYMENT_LIST_VISIBILITY = [
    ("owner", True),
    ("named_influencer", True),
    ("admin", True),
    ("other_company", False),
    ("other_influencer", False),
]


@pytest.mark.parametrize("actor, sees_it", PAYMENT_LIST_VISIBILITY)
def test_the_payment_list_shows_a_payment_only_to_its_parties_and_admins(client, world, actor, sees_it):
    payment_id = world.payment_in(payments.PENDING)
    response = client.get("/payments", headers=world.headers(actor))
    assert response.status_code == 200
    ids = [item["id"] for item in response.get_json()["items"]]
    assert ids == ([payment_id] if sees_it else [])


PAYOUT_MATRIX = [
    ("named_influencer", 200),
    ("admin", 200),
    ("other_influencer", 404),
    ("owner", 403),
]


@pytest.mark.parametrize("actor, expected", PAYOUT_MATRIX)
def test_a_payout_is_readable_only_by_its_influencer_and_admins(client, world, actor, expected):
    payout_id = world.payout_id
    response = client.get(f"/payouts/{payout_id}", headers=world.headers(actor))
    listed = client.get("/payouts", headers=world.headers(actor))
    if expected == 200:
        assert response.status_code == 200 and response.get_json()["id"] == payout_id
        assert [item["id"] for item in listed.get_json()["items"]] == [payout_id]
    else:
        assert_error(response, expected)
        if listed.status_code == 200:
            assert listed.get_json()["items"] == []


@pytest.mark.parametrize("actor", ["other_influencer", "owner", "admin"])
def test_nobody_else_can_read_or_mark_an_influencers_notification(client, world, actor):
    notification_id = world.notification_id
    listed = client.get("/notifications", headers=world.headers(actor)).get_json()["items"]
    assert notification_id not in [item["id"] for item in listed]
    response = client.post(f"/notifications/{notification_id}/read", headers=world.headers(actor))
    assert_error(response, 404, "not_found")
    db.session.expire_all()
    assert db.session.get(Notification, notification_id).read_at is None


def test_an_influencer_marks_their_own_notification_read(client, world):
    notification_id = world.notification_id
    response = client.post(f"/notifications/{notification_id}/read", headers=world.headers("named_influencer"))
    assert response.status_code == 200
    assert response.get_json()["read"] is True
    db.session.expire_all()
    assert db.session.get(Notification, notification_id).read_at is not None


def test_another_influencer_sees_none_of_an_influencers_wallet_lines(client, world):
    assert world.funded
    own = client.get("/wallet/transactions", headers=world.headers("named_influencer")).get_json()["items"]
    other = client.get("/wallet/transactions", headers=world.headers("other_influencer")).get_json()
    assert own, "the funded influencer has ledger lines"
    assert other == {"items": [], "nextCursor": None}
    assert client.get("/wallet", headers=world.headers("other_influencer")).get_json() == {"wallets": []}
