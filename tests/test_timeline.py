"""GET /payments/{id}/timeline: what happened to a payment and when, from its rows, the ledger and Stripe's events."""
from __future__ import annotations

from payflow import payments
from payflow.api import schemas
from payflow.extensions import db
from payflow.models import Payment, Refund
from payflow.webhooks import simulate

from .factories import DECLINED
from .webhook_helpers import deliver, run_jobs


def _timeline(client, factory, user, payment_id) -> list[dict]:
    response = client.get(f"/payments/{payment_id}/timeline", headers=factory.headers(user))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["paymentId"] == payment_id
    schemas.Timeline.model_validate(body)  # the shape /openapi.json promises
    return body["items"]


def _types(items) -> list[str]:
    return [item["type"] for item in items]


def _apply(app, client, event) -> None:
    assert deliver(client, event).status_code == 200
    run_jobs(app)


def test_a_released_payment_shows_created_held_and_released_with_fee_and_net_and_times(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 5000, "usd")
    items = _timeline(client, factory, company, payment.id)
    assert _types(items) == ["created", "held", "released"]
    assert items[0]["amount"] == 5000
    assert (items[1]["amount"], items[1]["feeAmount"], items[1]["netAmount"]) == (5000, 500, 4500)
    assert (items[2]["amount"], items[2]["feeAmount"], items[2]["netAmount"]) == (5000, 500, 4500)
    times = [item["at"] for item in items]
    assert all(time.endswith("Z") for time in times) and times == sorted(times)


def test_both_parties_read_the_timeline_and_nobody_else_does(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 5000, "usd")
    assert _types(_timeline(client, factory, influencer, payment.id)) == ["created", "held"]
    for stranger in (factory.user("company"), factory.user("influencer")):
        response = client.get(f"/payments/{payment.id}/timeline", headers=factory.headers(stranger))
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"/payments/{payment.id}/timeline").status_code == 401
    assert client.get("/payments/pay_unknown/timeline", headers=factory.headers(company)).status_code == 404


def test_each_refund_is_a_step_and_after_release_it_says_what_was_clawed_back_and_owed(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "eur")
    factory.refund_confirmed(payment.id, 2000)  # before release: out of escrow
    payments.release_payment(company, payment.id)  # 8000: fee 800, net 7200
    factory.payout(influencer, 7000, "eur")
    factory.refund_confirmed(payment.id, 10000)  # the rest, after release and a payout
    items = _timeline(client, factory, company, payment.id)
    assert _types(items) == ["created", "held", "refunded", "released", "refunded"]
    before, released, after = items[2], items[3], items[4]
    assert before == {"type": "refunded", "at": before["at"], "amount": 2000, "afterRelease": False}
    assert (released["amount"], released["feeAmount"], released["netAmount"]) == (8000, 800, 7200)
    assert after == {"type": "refunded", "at": after["at"], "amount": 8000, "afterRelease": True,
                     "feeAmount": 800, "netAmount": 7200, "owedAmount": 7000}


def test_a_declined_attempt_and_its_retry_are_steps_with_stripes_message(app, client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.payment(company, influencer, 5000)
    declined = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)},
                           headers=factory.headers(company))
    assert declined.status_code == 402
    # Stripe's own event about the declined attempt arrives too (already applied from the answer)
    _apply(app, client, simulate.event_for("payment_intent.payment_failed", payment=db.session.get(Payment, payment.id),
                                           message="Your card was declined."))
    paid = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card()},
                       headers=factory.headers(company))
    assert paid.status_code == 200 and paid.get_json()["status"] == "HELD"
    items = _timeline(client, factory, company, payment.id)
    assert _types(items) == ["created", "failed", "retried", "held"]
    assert items[1] == {"type": "failed", "at": items[1]["at"], "attempt": 1, "message": "Your card was declined."}
    assert items[2]["attempt"] == 2


def test_an_earlier_attempts_failure_without_its_event_is_still_a_step(client, factory):
    company = factory.user("company")
    payment = factory.payment(company, factory.user("influencer"), 5000)
    for card in (DECLINED, None):
        client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(card) if card else factory.card()},
                    headers=factory.headers(company))
    items = _timeline(client, factory, company, payment.id)
    assert _types(items) == ["created", "failed", "retried", "held"]
    assert items[1]["message"] is None  # Stripe's words were in the answer only, and the payment moved on


def test_a_payment_failed_now_shows_its_failure(client, factory):
    company = factory.user("company")
    payment = factory.payment(company, factory.user("influencer"), 5000)
    client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)},
                headers=factory.headers(company))
    items = _timeline(client, factory, company, payment.id)
    assert _types(items) == ["created", "failed"] and "declined" in items[1]["message"]


def test_a_dispute_opened_and_lost_is_shown_with_the_refund_it_became(app, client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.payment(company, influencer, 5000, status="HELD")
    payment = db.session.get(Payment, payment.id)
    _apply(app, client, simulate.event_for("charge.dispute.created", payment=payment, amount=5000))
    _apply(app, client, simulate.event_for("charge.dispute.closed", payment=payment, outcome="lost", amount=5000))
    items = _timeline(client, factory, influencer, payment.id)
    # the lost dispute's refund is booked when its event is applied, after Stripe closed it
    assert _types(items) == ["created", "held", "dispute_opened", "dispute_closed", "refunded"]
    opened = next(item for item in items if item["type"] == "dispute_opened")
    closed = next(item for item in items if item["type"] == "dispute_closed")
    assert (opened["amount"], opened["reason"], closed["outcome"]) == (5000, "fraudulent", "lost")


def test_the_influencer_sees_the_payouts_that_carried_the_payment_first_in_first_out(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    first = factory.released_payment_direct(company, influencer, 10000, "eur")  # net 9000
    second = factory.released_payment_direct(company, influencer, 10000, "eur")  # net 9000
    a = factory.payout(influencer, 12000, "eur")  # 9000 of the first, 3000 of the second
    failed = factory.payout(influencer, 2000, "eur")  # 2000 of the second ...
    factory.payout_failed(failed.id)  # ... back in the wallet
    b = factory.payout(influencer, 6000, "eur")  # the other 4000 of the second, then the 2000 that came back

    def paid_out(payment):
        return [(item["payoutId"], item["amount"], item["payoutAmount"]) for item in
                _timeline(client, factory, influencer, payment.id) if item["type"] == "paid_out"]

    assert paid_out(first) == [(a.id, 9000, 12000)]
    assert paid_out(second) == [(a.id, 3000, 12000), (b.id, 6000, 6000)]
    # An influencer's bank payouts are theirs: the company's view has none.
    assert "paid_out" not in _types(_timeline(client, factory, company, second.id))


def test_a_clawback_takes_back_its_own_payments_money_before_anyone_elses(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    first = factory.released_payment_direct(company, influencer, 10000, "eur")  # net 9000
    second = factory.released_payment_direct(company, influencer, 10000, "eur")  # net 9000
    factory.refund_confirmed(second.id, 10000)  # the second's 9000 leaves the wallet
    payout = factory.payout(influencer, 9000, "eur")
    items = [item for item in _timeline(client, factory, influencer, first.id) if item["type"] == "paid_out"]
    assert [(item["payoutId"], item["amount"]) for item in items] == [(payout.id, 9000)]
    assert [item for item in _timeline(client, factory, influencer, second.id) if item["type"] == "paid_out"] == []


def test_a_refund_is_requested_then_refunded_and_one_that_fails_later_comes_back(app, client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.payment(company, influencer, 5000, status="HELD")
    payments.release_payment(company, payment.id)  # 5000: fee 500, net 4500
    response = client.post(f"/payments/{payment.id}/refund", json={"amount": 1000}, headers=factory.headers(company))
    assert response.status_code == 202
    requested = [item for item in _timeline(client, factory, company, payment.id) if item["type"] == "refund_requested"]
    assert [(item["amount"], item["refundId"]) for item in requested] == [(1000, response.get_json()["id"])]
    assert requested[0]["status"] in ("PENDING", "SUCCEEDED")  # as Stripe answered

    _apply(app, client, simulate.event_for("charge.refunded", payment=db.session.get(Payment, payment.id), amount=1000))
    refund = db.session.get(Refund, response.get_json()["id"])
    _apply(app, client, simulate.refund_event("refund.failed", refund, db.session.get(Payment, payment.id), "failed",
                                              failure_reason="expired_or_canceled_card"))
    items = _timeline(client, factory, influencer, payment.id)
    assert _types(items) == ["created", "held", "released", "refund_requested", "refunded", "refund_failed",
                             "refund_reversed"]
    refunded, failed, back = items[4], items[5], items[6]
    assert (refunded["amount"], refunded["afterRelease"], refunded["netAmount"]) == (1000, True, 900)
    assert (failed["status"], failed["reason"]) == ("FAILED", "expired_or_canceled_card")
    assert (back["amount"], back["afterRelease"], back["netAmount"], back["feeAmount"]) == (1000, True, 900, 100)
