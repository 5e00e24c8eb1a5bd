"""The delivery batcher answers every request, and one bad delivery never fails the others in its batch.

Under gunicorn's gevent worker, deliveries that arrive together are recorded with one
INSERT. A row the database refuses (here: a trigger that refuses one event id, standing
for any row a database can refuse) is retried alone while its neighbours are recorded;
a delivery whose row cannot be built is refused alone; whatever else goes wrong, every
waiting request gets an answer.
"""
from __future__ import annotations

import json
import secrets
import threading

import gevent
import pytest
import requests
from sqlalchemy import text

from payflow.extensions import db
from payflow.models import WebhookEvent
from payflow.webhooks import simulate
from payflow.webhooks.inbox import DeliveryBatcher, InvalidDelivery, RecordFailed

from .stream_helpers import server_environment, start_web_processes
from .webhook_helpers import SECRET, count, event_row

POISON = "evt_poison"


def _event(prefix: str = "evt") -> dict:
    return simulate.build_event("customer.created", {"id": f"cus_{secrets.token_hex(6)}", "object": "customer"},
                                event_id=f"{prefix}_{secrets.token_hex(8)}")


@pytest.fixture
def poisoned_inbox(app):
    """The database refuses to store any event whose id starts with ``evt_poison``."""
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        statements = [
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.id LIKE '{POISON}%' THEN RAISE EXCEPTION 'this row is refused'; END IF; RETURN NEW; END "
            "$$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_events FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
        ]
        cleanup = ["DROP TRIGGER IF EXISTS refuse_poison ON webhook_events", "DROP FUNCTION IF EXISTS refuse_poison()"]
    else:
        statements = [
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_events "
            f"WHEN NEW.id LIKE '{POISON}%' BEGIN SELECT RAISE(ABORT, 'this row is refused'); END"
        ]
        cleanup = ["DROP TRIGGER IF EXISTS refuse_poison"]
    for statement in statements:
        db.session.execute(text(statement))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        for statement in cleanup:
            db.session.execute(text(statement))
        db.session.commit()


def _submit_together(batcher: DeliveryBatcher, events: list[dict]) -> list:
    """Submit every delivery from its own greenlet, so that all of them wait on one batch."""
    def submit(event):
        try:
            return batcher.submit(event, json.dumps(event))
        except Exception as exc:  # the answer the request would turn into 400 or 503
            return exc

    db.session.remove()  # on SQLite the test's own transaction would hold the write lock
    greenlets = [gevent.spawn(submit, event) for event in events]
    gevent.joinall(greenlets, timeout=30)
    assert all(greenlet.ready() for greenlet in greenlets), "a delivery was never answered"
    return [greenlet.value for greenlet in greenlets]


def test_a_delivery_whose_row_cannot_be_built_is_refused_alone_and_its_batch_is_recorded(app):
    good = [_event() for _ in range(3)]
    no_id = {"type": "customer.created", "data": {"object": {}}}
    answers = _submit_together(DeliveryBatcher(app), [good[0], no_id, good[1], good[2]])
    assert answers[0] is True and answers[2] is True and answers[3] is True
    assert isinstance(answers[1], InvalidDelivery)
    assert all(event_row(event["id"]) is not None for event in good)


def test_a_row_the_database_refuses_fails_alone_and_its_neighbours_are_recorded(app, poisoned_inbox):
    good = [_event() for _ in range(4)]
    poison = _event(POISON)
    answers = _submit_together(DeliveryBatcher(app), [good[0], good[1], poison, good[2], good[3]])
    assert answers[:2] + answers[3:] == [True] * 4
    assert isinstance(answers[2], RecordFailed) and not answers[2].transient
    assert all(event_row(event["id"]) is not None for event in good)
    assert event_row(poison["id"]) is None


def test_a_redelivery_in_the_same_batch_as_its_first_delivery_is_answered_as_a_duplicate(app):
    event = _event()
    answers = _submit_together(DeliveryBatcher(app), [event, event])
    assert answers == [True, False]
    assert count(WebhookEvent) == 1


class _BrokenBatcher(DeliveryBatcher):
    """A batcher whose batch step fails in a way nobody planned for."""

    def _record_and_queue(self, part):
        raise RuntimeError("something nobody planned for")


def test_an_unexpected_failure_of_a_batch_answers_every_request_in_it(app):
    answers = _submit_together(_BrokenBatcher(app), [_event() for _ in range(5)])
    assert all(isinstance(answer, RuntimeError) for answer in answers)


class _StuckBatcher(DeliveryBatcher):
    ANSWER_TIMEOUT = 0.5

    def _record_and_queue(self, part):
        gevent.sleep(5)


def test_a_request_whose_batch_never_finishes_gives_up_with_a_record_failure(app):
    answers = _submit_together(_StuckBatcher(app), [_event() for _ in range(2)])
    assert all(isinstance(answer, RecordFailed) for answer in answers)


# --- the real thing: gunicorn's gevent worker ------------------------------------------


@pytest.fixture
def web(migrated_app, app, database_url, redis_server, localstripe):
    env = server_environment(database_url, redis_server.url, localstripe.url)
    [process] = start_web_processes([env])
    yield process
    process.stop()


def _post_all_at_once(url: str, bodies: list[bytes]) -> list:
    barrier = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)

    def post(index: int, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "Stripe-Signature": simulate.sign(body.decode(), SECRET)}
        barrier.wait(timeout=30)
        try:
            response = requests.post(f"{url}/payments/webhook", data=body, headers=headers, timeout=30)
            answers[index] = response.status_code
        except Exception as exc:  # a request left without an answer is what this test is about
            answers[index] = exc

    threads = [threading.Thread(target=post, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_under_gunicorn_a_bad_delivery_among_good_ones_arriving_together_never_holds_them_up(
    app, web, poisoned_inbox
):
    """The issue's case: one odd signed body and good deliveries in the same instant, plus a
    row the database refuses. Every request is answered; every good event is recorded."""
    good = [_event() for _ in range(12)]
    poison = _event(POISON)
    oops = _event()
    oops["data"] = "oops"
    bodies = [json.dumps(event).encode() for event in [*good[:6], oops, poison, *good[6:]]]
    db.session.remove()

    answers = _post_all_at_once(web.url, bodies)

    assert answers[:6] + answers[8:] == [200] * 12, answers
    assert answers[6] == 400  # not a Stripe event: refused at the door
    assert answers[7] == 503  # the database refused its row: Stripe will retry it
    assert all(event_row(event["id"]) is not None for event in good)
    assert event_row(poison["id"]) is None and event_row(oops["id"]) is None

    # The process is fine afterwards.
    after = _event()
    db.session.remove()
    response = requests.post(f"{web.url}/payments/webhook", data=json.dumps(after).encode(), timeout=30,
                             headers={"Content-Type": "application/json",
                                      "Stripe-Signature": simulate.sign(json.dumps(after), SECRET)})
    assert response.status_code == 200
