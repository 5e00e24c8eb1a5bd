"""An event whose object a handler cannot read is held for an operator, never retried in a loop.

The door refuses such bodies (``envelope``), but events recorded before a shape was checked
there, or fetched by ``webhooks reconcile``, still reach the jobs: each is flagged
``malformed_object`` and not applied, and what happens to its payment later never wakes it.
"""
from __future__ import annotations

import pytest

from payflow import flags, payments
from payflow.models import Payment, Refund
from payflow.extensions import db
from payflow.webhooks import inbox, simulate

from .webhook_helpers import deliver, event_row, ledger_kinds, run_jobs


def _recorded_without_the_door(event: dict) -> str:
    """Record ``event`` as an older payflow would have, with no check of its object."""
    payload = simulate.signed(event, "unused")[0].decode()
    assert inbox.record(event, payload)
    inbox.enqueue_or_mark(event["id"])
    return event["id"]


def _refund_of(client, factory, payment, amount) -> Refund:
    response = client.post(f"/payments/{payment.id}/refund", json={"amount": amount},
                           headers=factory.headers(payment.company))
    assert response.status_code == 202, response.get_json()
    return db.session.get(Refund, response.get_json()["id"])


ODD_FIELDS = {
    "status is a list": ("status", ["failed"]),
    "metadata is a list": ("metadata", ["rf_1"]),
    "currency is a number": ("currency", 840),
    "failure reason is an object": ("failure_reason", {"code": "lost"}),
}


@pytest.mark.parametrize("case", ODD_FIELDS)
def test_a_recorded_refund_event_with_an_odd_field_is_flagged_once_and_not_woken_again(app, client, factory, case):
    payment = factory.payment(amount=10000, status=payments.HELD)
    refund = _refund_of(client, factory, payment, 4000)
    field, value = ODD_FIELDS[case]
    odd = simulate.refund_event("refund.failed", refund, db.session.get(Payment, payment.id), "failed")
    odd["data"]["object"][field] = value
    event_id = _recorded_without_the_door(odd)
    run_jobs(app)

    row = event_row(event_id)
    assert row.status == inbox.FLAGGED and row.flag_reason == flags.MALFORMED_OBJECT and not row.applied
    assert field in row.last_error

    # the refund's own total arrives and is applied: the odd event stays where it is
    db.session.expire_all()
    total = simulate.event_for("charge.refunded", payment=db.session.get(Payment, payment.id), amount=4000)
    assert deliver(client, total).status_code == 200
    run_jobs(app)
    assert event_row(total["id"]).status == inbox.PROCESSED
    row = event_row(event_id)
    assert row.status == inbox.FLAGGED and row.attempts == 1
    assert ledger_kinds(payment_id=payment.id).count("refund_reversed") == 0


def test_a_recorded_payment_failure_whose_message_is_an_object_is_flagged_and_changes_nothing(app, client, factory):
    payment = factory.payment(amount=5000)
    odd = simulate.event_for("payment_intent.payment_failed", payment=payment)
    odd["data"]["object"]["last_payment_error"]["message"] = {"text": "declined"}
    event_id = _recorded_without_the_door(odd)
    run_jobs(app)

    row = event_row(event_id)
    assert row.status == inbox.FLAGGED and row.flag_reason == flags.MALFORMED_OBJECT
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == payments.PENDING


# --- every field a handler reads, with every odd type ------------------------------------------

ODD_VALUES = {
    "a list": ["x"], "an object": {"x": 1}, "a float": 12.5, "a numeric string": "5000", "null": None,
    "a bool": True, "a huge integer": 10**20, "an empty string": "",
}


def _signed_objects(factory, client) -> dict[str, dict]:
    """One real object per kind a handler reads, about objects payflow knows."""
    payment = factory.payment(amount=10000, status=payments.HELD)
    refund = _refund_of(client, factory, payment, 4000)
    payment = db.session.get(Payment, payment.id)
    influencer = factory.funded_influencer(10000, "eur")
    payout = factory.payout(influencer, 1000, "eur")
    return {
        "payment_intent.succeeded": simulate.event_for("payment_intent.succeeded", payment=payment),
        "payment_intent.payment_failed": simulate.event_for("payment_intent.payment_failed", payment=payment),
        "charge.refunded": simulate.event_for("charge.refunded", payment=payment, amount=4000),
        "charge.dispute.closed": simulate.event_for("charge.dispute.closed", payment=payment, outcome="lost"),
        "payout.failed": simulate.event_for("payout.failed", payout=payout),
        "refund.failed": simulate.refund_event("refund.failed", refund, payment, "failed"),
    }


_CRASHES = ("TypeError", "AttributeError", "KeyError", "ValueError", "IndexError", "(psycopg", "(sqlite3",
            "StatementError", "DataError", "ProgrammingError", "InterfaceError")


def test_an_odd_value_in_any_field_a_handler_reads_is_refused_at_the_door_or_applied_never_a_crash(
    app, client, factory
):
    import copy

    sent = []
    for event_type, event in _signed_objects(factory, client).items():
        for field in event["data"]["object"]:
            if field in ("object", "created", "livemode"):
                continue
            for name, value in ODD_VALUES.items():
                odd = copy.deepcopy(event)
                odd["id"] = f"evt_odd_{len(sent)}"
                odd["data"]["object"][field] = value
                answer = deliver(client, odd)
                assert answer.status_code in (200, 400), (event_type, field, name, answer.get_data(as_text=True))
                if answer.status_code == 200:
                    sent.append((event_type, field, name, odd["id"]))
    run_jobs(app)
    for event_type, field, name, event_id in sent:
        row = event_row(event_id)
        error = row.last_error or ""
        assert not error.startswith(_CRASHES), (event_type, field, name, row.status, error)
