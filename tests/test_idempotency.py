"""``Idempotency-Key`` on every request that moves money (SPEC §4): once per user and key."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from payflow import idempotency, payments
from payflow.extensions import db
from payflow.models import IdempotencyKey, LedgerTransaction, Payment, Payout, Refund, utcnow
from payflow.unit_of_work import atomic

from .factories import DECLINED
from .webhook_helpers import release_test_session


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _post(client, path, headers, key, json=None):
    return client.post(path, json=json, headers={**headers, "Idempotency-Key": key})


def test_a_double_submitted_refund_is_one_refund_at_stripe_and_both_get_the_same_answer(
    client, factory, faulty_stripe
):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)

    first = _post(client, f"/payments/{payment.id}/refund", headers, "refund-1", {"amount": 1000})
    second = _post(client, f"/payments/{payment.id}/refund", headers, "refund-1", {"amount": 1000})

    assert first.status_code == second.status_code == 202
    assert second.get_data() == first.get_data()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(faulty_stripe.executed("POST", "/v1/refunds")) == 1
    assert _count(Refund) == 1


def test_the_same_key_with_another_body_is_refused_with_409_and_moves_nothing(client, factory, faulty_stripe):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    _post(client, f"/payments/{payment.id}/refund", headers, "refund-2", {"amount": 1000})

    other = _post(client, f"/payments/{payment.id}/refund", headers, "refund-2", {"amount": 2000})

    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _count(Refund) == 1 and len(faulty_stripe.executed("POST", "/v1/refunds")) == 1


def test_the_same_key_on_another_endpoint_is_refused_with_409(client, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    assert _post(client, f"/payments/{payment.id}/refund", headers, "key-3", {"amount": 1000}).status_code == 202

    released = _post(client, f"/payments/{payment.id}/release", headers, "key-3")

    assert released.status_code == 409 and released.get_json()["error"]["code"] == "idempotency_key_reused"
    assert db.session.get(Payment, payment.id).status == payments.HELD


def test_json_bodies_that_differ_only_in_spacing_or_key_order_are_the_same_request(client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    headers = {**factory.headers(influencer), "Idempotency-Key": "po-1", "Content-Type": "application/json"}
    first = client.post("/payouts", data='{"amount": 1000, "currency": "eur"}', headers=headers)
    second = client.post("/payouts", data='{"currency":"eur","amount":1000}', headers=headers)
    assert first.status_code == 201 and second.get_data() == first.get_data()
    assert _count(Payout) == 1


@pytest.mark.parametrize("first, repeat", [(b"", b"{}"), (b"{}", b""), (b"  ", b"{ }")], ids=repr)
def test_an_empty_body_and_an_empty_object_are_the_same_request(client, factory, first, repeat):
    """Release and refund take an optional body: sending nothing and sending {} ask the same."""
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = {**factory.headers(payment.company), "Idempotency-Key": "release-1", "Content-Type": "application/json"}
    one = client.post(f"/payments/{payment.id}/release", data=first, headers=headers)
    two = client.post(f"/payments/{payment.id}/release", data=repeat, headers=headers)
    assert one.status_code == 200, one.get_json()
    assert two.status_code == 200 and two.headers.get("Idempotent-Replayed") == "true"
    assert two.get_data() == one.get_data()


def test_a_key_is_per_user(client, factory):
    one, two = factory.funded_influencer(10000, "eur"), factory.funded_influencer(10000, "eur")
    body = {"amount": 1000, "currency": "eur"}
    assert _post(client, "/payouts", factory.headers(one), "shared", body).status_code == 201
    assert _post(client, "/payouts", factory.headers(two), "shared", body).status_code == 201
    assert _count(Payout) == 2


def test_requests_without_the_header_run_every_time(client, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    for _ in range(2):
        assert client.post(f"/payments/{payment.id}/refund", json={"amount": 1000}, headers=headers).status_code == 202
    assert _count(Refund) == 2


def test_an_invalid_body_does_not_use_up_its_key(client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    headers = factory.headers(influencer)
    assert _post(client, "/payouts", headers, "fix-me", {"amount": "ten", "currency": "eur"}).status_code == 400
    assert _post(client, "/payouts", headers, "fix-me", {"amount": 1000, "currency": "eur"}).status_code == 201


def test_a_refused_request_is_answered_the_same_way_again_and_not_run_twice(client, factory):
    influencer = factory.funded_influencer(1000, "eur")
    headers = factory.headers(influencer)
    first = _post(client, "/payouts", headers, "too-much", {"amount": 5000, "currency": "eur"})
    company = factory.user("company")  # now the wallet could pay it: the repeat still is not run
    payments.release_payment(company, factory.held_payment_direct(company, influencer, 10000, "eur").id)
    second = _post(client, "/payouts", headers, "too-much", {"amount": 5000, "currency": "eur"})
    assert first.status_code == second.status_code == 422 and first.get_data() == second.get_data()
    assert _count(Payout) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_a_malformed_key_is_a_400(client, factory, key):
    influencer = factory.funded_influencer(1000, "eur")
    response = _post(client, "/payouts", factory.headers(influencer), key, {"amount": 100, "currency": "eur"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert _count(Payout) == 0


# --- every endpoint that moves money ---------------------------------------------------------


def test_a_repeated_release_answers_as_the_first_and_releases_once(client, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    first = _post(client, f"/payments/{payment.id}/release", headers, "release-1")
    second = _post(client, f"/payments/{payment.id}/release", headers, "release-1")
    assert first.status_code == second.status_code == 200 and first.get_data() == second.get_data()
    assert _count(LedgerTransaction, LedgerTransaction.kind == "release") == 1


def test_a_repeated_confirm_charges_once(client, factory, faulty_stripe):
    payment = factory.payment(amount=5000)
    headers = factory.headers(payment.company)
    body = {"paymentMethod": factory.card()}
    first = _post(client, f"/payments/{payment.id}/confirm", headers, "confirm-1", body)
    second = _post(client, f"/payments/{payment.id}/confirm", headers, "confirm-1", body)
    assert first.status_code == second.status_code == 200 and first.get_data() == second.get_data()
    assert len(faulty_stripe.executed("POST", f"/v1/payment_intents/{payment.stripe_payment_intent_id}/confirm")) == 1


def test_a_repeated_test_card_payment_makes_one_card_and_one_charge(client, factory, faulty_stripe):
    payment = factory.payment(amount=5000)
    card = {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2034, "cvc": "123"}
    headers = factory.headers(payment.company)
    first = _post(client, f"/payments/{payment.id}/test-card", headers, "card-1", card)
    second = _post(client, f"/payments/{payment.id}/test-card", headers, "card-1", card)
    assert first.status_code == second.status_code == 200 and first.get_data() == second.get_data()
    assert len(faulty_stripe.executed("POST", "/v1/payment_methods")) == 1


def test_a_repeated_retry_makes_one_new_attempt(client, factory):
    payment = factory.payment(amount=5000)
    headers = factory.headers(payment.company)
    client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)}, headers=headers)
    first = _post(client, f"/payments/{payment.id}/retry", headers, "retry-1")
    second = _post(client, f"/payments/{payment.id}/retry", headers, "retry-1")
    assert first.status_code == second.status_code == 200 and first.get_data() == second.get_data()
    assert client.post(f"/payments/{payment.id}/retry", headers=headers).status_code == 409  # a new try: refused


def test_a_repeated_payout_request_takes_the_money_once_and_makes_one_payout(client, factory, faulty_stripe):
    influencer = factory.funded_influencer(10000, "eur")
    headers = factory.headers(influencer)
    body = {"amount": 3000, "currency": "eur"}
    first = _post(client, "/payouts", headers, "payout-1", body)
    second = _post(client, "/payouts", headers, "payout-1", body)
    assert first.status_code == second.status_code == 201 and first.get_data() == second.get_data()
    assert _count(Payout) == 1 and len(faulty_stripe.executed("POST", "/v1/payouts")) == 1
    wallet = client.get("/wallet", headers=headers).get_json()["wallets"][0]
    assert wallet["availableBalance"] == 7000


# --- repeats that arrive while the first is still running ------------------------------------


def test_concurrent_repeats_of_a_refund_run_it_once_and_answer_alike(app, factory, faulty_stripe):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = {**factory.headers(payment.company), "Idempotency-Key": "double-click"}
    path = f"/payments/{payment.id}/refund"
    release_test_session()
    gate = faulty_stripe.hold("POST", "/v1/refunds")
    answers = {}

    def send(name):
        answers[name] = app.test_client().post(path, json={"amount": 1000}, headers=headers)

    first = threading.Thread(target=send, args=("first",))
    first.start()
    gate.wait_arrived()  # the first is at Stripe; its key is taken
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second.join(0.5)  # it waits for the first rather than running alongside it
    gate.release()
    first.join(30)
    second.join(30)

    assert answers["first"].status_code == answers["second"].status_code == 202
    assert answers["first"].get_data() == answers["second"].get_data()
    assert len(faulty_stripe.executed("POST", "/v1/refunds")) == 1
    assert _count(Refund) == 1


def test_a_repeat_that_waits_too_long_for_the_first_is_told_to_try_again_and_then_gets_the_first_answer(
    app, factory, faulty_stripe, monkeypatch
):
    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST_SECONDS", 0.2)
    influencer = factory.funded_influencer(10000, "eur")
    headers = {**factory.headers(influencer), "Idempotency-Key": "slow-one"}
    release_test_session()
    gate = faulty_stripe.hold("POST", "/v1/payouts")
    answers = {}

    def send():
        answers["first"] = app.test_client().post("/payouts", json={"amount": 1000, "currency": "eur"}, headers=headers)

    first = threading.Thread(target=send)
    first.start()
    gate.wait_arrived()
    in_progress = app.test_client().post("/payouts", json={"amount": 1000, "currency": "eur"}, headers=headers)
    gate.release()
    first.join(30)
    later = app.test_client().post("/payouts", json={"amount": 1000, "currency": "eur"}, headers=headers)

    assert in_progress.status_code == 409
    assert in_progress.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert later.get_data() == answers["first"].get_data() and later.status_code == answers["first"].status_code
    assert _count(Payout) == 1


def test_keys_are_forgotten_after_a_day(app, factory):
    user = factory.user("influencer")
    with atomic():
        db.session.add(IdempotencyKey(user_id=user.id, key="old", fingerprint="x", created_at=utcnow().replace(year=2000)))
        db.session.add(IdempotencyKey(user_id=user.id, key="new", fingerprint="x"))
    assert idempotency.prune() == 1
    assert db.session.scalars(select(IdempotencyKey.key)).all() == ["new"]
