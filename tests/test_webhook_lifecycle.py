"""The lifecycle of a recorded event: one set of statuses, one transition rule, and flagged
events that operators can list (CLI, admin API), count (/metrics) and replay when that makes sense."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from payflow import flags, payouts
from payflow.extensions import db
from payflow.flags import Flag
from payflow.models import WebhookEvent
from payflow.unit_of_work import atomic
from payflow.webhooks import inbox, lifecycle, simulate
from payflow.webhooks.lifecycle import Status

from .webhook_helpers import deliver, event_row, run_jobs


def _recorded(event_type="customer.created") -> str:
    event = simulate.build_event(event_type, {"id": "cus_1", "object": "customer"})
    inbox.record(event, "{}")
    return event["id"]


def _set(event_id: str, **values) -> None:
    with atomic():
        db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))


def _locked(event_id: str) -> WebhookEvent:
    return db.session.get(WebhookEvent, event_id, with_for_update=True)


# --- the rule ------------------------------------------------------------------------------


def test_a_new_event_is_recorded_as_received_and_not_applied(app):
    row = event_row(_recorded())
    assert row.status == Status.RECEIVED == lifecycle.INITIAL
    assert row.applied is False and row.flag_reason is None


@pytest.mark.parametrize("to", list(Status))
def test_a_processed_event_never_moves_again(app, to):
    event_id = _recorded()
    _set(event_id, status=Status.PROCESSED, applied=True)
    with atomic():
        with pytest.raises(lifecycle.InvalidEventTransition):
            lifecycle.transition(_locked(event_id), to)
    assert event_row(event_id).status == Status.PROCESSED


@pytest.mark.parametrize("start", [Status.IGNORED, Status.DEAD, Status.FLAGGED])
@pytest.mark.parametrize("to", [Status.PROCESSED, Status.IGNORED, Status.FLAGGED, Status.RETRYING, Status.UNQUEUED])
def test_an_event_waiting_for_an_operator_only_goes_back_to_received(app, start, to):
    event_id = _recorded()
    _set(event_id, status=start)
    with atomic():
        with pytest.raises(lifecycle.InvalidEventTransition):
            lifecycle.transition(_locked(event_id), to)


def test_a_flagged_event_that_was_applied_cannot_be_replayed_but_one_that_was_not_can(app):
    applied, held = _recorded(), _recorded()
    _set(applied, status=Status.FLAGGED, applied=True, flag_reason=flags.DUPLICATE_CAPTURE)
    _set(held, status=Status.FLAGGED, applied=False, flag_reason=flags.AMOUNT_MISMATCH)

    event, queued = inbox.replay(applied)
    assert queued is False and event_row(applied).status == Status.FLAGGED
    event, queued = inbox.replay(held)
    assert queued is True
    row = event_row(held)
    assert (row.status, row.attempts, row.flag_reason) == (Status.RECEIVED, 0, None)


def test_bulk_moves_leave_events_that_may_not_move_as_they_are(app):
    waiting, done, flagged_applied = _recorded(), _recorded(), _recorded()
    _set(waiting, status=Status.RETRYING)
    _set(done, status=Status.PROCESSED, applied=True)
    _set(flagged_applied, status=Status.FLAGGED, applied=True, flag_reason=flags.PAID_AFTER_RETURN)
    with atomic():
        moved = lifecycle.transition_where([waiting, done, flagged_applied], Status.RECEIVED)
    assert moved == 1
    assert [event_row(e).status for e in (waiting, done, flagged_applied)] == [
        Status.RECEIVED, Status.PROCESSED, Status.FLAGGED]


def test_a_bulk_move_from_a_status_the_rule_forbids_is_refused(app):
    with atomic():
        with pytest.raises(lifecycle.InvalidEventTransition):
            lifecycle.transition_where(["evt_x"], Status.UNQUEUED, only_from={Status.PROCESSED})


def test_the_database_refuses_a_status_outside_the_lifecycle(app):
    event_id = _recorded()
    with pytest.raises(Exception):
        _set(event_id, status="done")
    db.session.rollback()
    assert event_row(event_id).status == Status.RECEIVED


def test_a_flagged_verdict_needs_its_reason(app):
    event_id = _recorded()
    with atomic():
        with pytest.raises(ValueError):
            lifecycle.decide(_locked(event_id), Status.FLAGGED, "flagged", applied=False)
    with atomic():
        lifecycle.decide(_locked(event_id), Status.FLAGGED, "flagged", applied=False,
                         flag=Flag(flags.AMOUNT_MISMATCH, "50 is not 51"))
    row = event_row(event_id)
    assert (row.status, row.flag_reason, row.last_error, row.attempts) == (Status.FLAGGED, "amount_mismatch",
                                                                           "50 is not 51", 1)


# --- flagged events for operators --------------------------------------------------------------


def _flag_an_amount_mismatch(app, client, factory) -> str:
    payment = factory.payment(amount=5000)
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    event["data"]["object"]["amount_received"] = 4000
    deliver(client, event)
    run_jobs(app)
    return event["id"]


def _flag_a_payout_paid_after_return(app, client, factory) -> str:
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, 3000, "eur")
    with atomic():
        payouts.record_failed(payouts.lock_payout(payout.id), "Stripe refused the payout")
    event = simulate.event_for("payout.paid", payout=payout)
    deliver(client, event)
    run_jobs(app)
    return event["id"]


def test_flagged_events_are_listed_by_the_cli_with_their_reason(app, client, factory):
    mismatch = _flag_an_amount_mismatch(app, client, factory)
    repaid = _flag_a_payout_paid_after_return(app, client, factory)
    processed = simulate.build_event("customer.created", {"id": "cus_2", "object": "customer"})
    deliver(client, processed)
    run_jobs(app)

    result = app.test_cli_runner().invoke(args=["webhooks", "list", "--status", "flagged"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.strip().splitlines()}
    assert set(lines) == {mismatch, repaid}
    assert "reason=amount_mismatch applied=no" in lines[mismatch] and "4000" in lines[mismatch]
    assert "reason=paid_after_return applied=yes" in lines[repaid]


def _admin_headers(factory) -> dict:
    return factory.headers(factory.user("admin"))


def test_admins_list_flagged_events_with_their_reason_page_by_page(app, client, factory):
    flagged = {_flag_an_amount_mismatch(app, client, factory) for _ in range(3)}
    flagged.add(_flag_a_payout_paid_after_return(app, client, factory))
    headers = _admin_headers(factory)

    seen, cursor = [], None
    while True:
        query = "/admin/webhook-events?status=flagged&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["items"]) <= 2
        seen += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [item["id"] for item in seen] == [item["id"] for item in
                                             sorted(seen, key=lambda i: (i["receivedAt"], i["id"]), reverse=True)]
    assert {item["id"] for item in seen} == flagged
    by_reason = {item["flagReason"] for item in seen}
    assert by_reason == {"amount_mismatch", "paid_after_return"}
    repaid = next(item for item in seen if item["flagReason"] == "paid_after_return")
    assert repaid["status"] == "flagged" and repaid["applied"] is True and repaid["outcome"].startswith("applied")


def test_the_admin_list_without_a_status_holds_every_event(app, client, factory):
    _flag_an_amount_mismatch(app, client, factory)
    other = simulate.build_event("customer.created", {"id": "cus_3", "object": "customer"})
    deliver(client, other)
    body = client.get("/admin/webhook-events", headers=_admin_headers(factory)).get_json()
    assert {item["status"] for item in body["items"]} == {"flagged", "received"}
    assert body["nextCursor"] is None


@pytest.mark.parametrize("role", ["company", "influencer"])
def test_the_admin_list_of_events_is_forbidden_to_others(client, factory, role):
    response = client.get("/admin/webhook-events?status=flagged", headers=factory.headers(factory.user(role)))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_the_admin_list_of_events_needs_a_login(client):
    assert client.get("/admin/webhook-events").status_code == 401


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=101", "cursor=bm90LW91cnM", "cursor=%%%"])
def test_the_admin_list_refuses_bad_parameters_with_400(client, factory, query):
    response = client.get(f"/admin/webhook-events?{query}", headers=_admin_headers(factory))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"]


def _metric(text: str, name: str, reason: str) -> float:
    match = re.search(rf'^{name}{{reason="{reason}"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_flagged_events_are_counted_in_metrics_by_reason(app, client, factory):
    before = client.get("/metrics").get_data(as_text=True)
    _flag_an_amount_mismatch(app, client, factory)
    _flag_an_amount_mismatch(app, client, factory)
    _flag_a_payout_paid_after_return(app, client, factory)
    after = client.get("/metrics").get_data(as_text=True)

    total = "payflow_webhook_events_flagged_total"
    assert _metric(after, total, "amount_mismatch") - _metric(before, total, "amount_mismatch") == 2
    assert _metric(after, total, "paid_after_return") - _metric(before, total, "paid_after_return") == 1
    now = "payflow_webhook_events_flagged_now"
    assert _metric(after, now, "amount_mismatch") == 2
    assert _metric(after, now, "paid_after_return") == 1


def test_a_flagged_event_is_logged_with_its_reason(app, client, factory, caplog):
    with caplog.at_level("ERROR", logger="payflow.webhooks.lifecycle"):
        event_id = _flag_an_amount_mismatch(app, client, factory)
    assert any(f"event_id={event_id}" in record.getMessage() and "reason=amount_mismatch" in record.getMessage()
               for record in caplog.records)
