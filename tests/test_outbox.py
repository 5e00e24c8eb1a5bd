"""Stream updates go through an outbox: committed with the change, published after it, never lost."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from payflow import payments, publisher
from payflow.extensions import db, redis_client
from payflow.models import OutboxMessage, utcnow
from payflow.stream import history
from payflow.unit_of_work import atomic


def _history(user_id):
    return [fields[b"event"].decode() for _, fields in redis_client.client.xrange(history.stream_key(user_id))]


def _outbox(user_id):
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user_id)))


def test_a_committed_change_is_published_and_its_outbox_rows_marked(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer)
    assert _history(influencer.id) == ["payment:update", "wallet:update"]
    assert _history(company.id) == ["payment:update"]
    rows = _outbox(influencer.id)
    assert len(rows) == 2 and all(row.published_at is not None for row in rows)


def test_a_change_rolled_back_publishes_nothing(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer)
    before = _history(influencer.id)
    try:
        with atomic():
            payments.release_payment(company, payment.id)
            raise RuntimeError("something after the release fails")
    except RuntimeError:
        pass
    assert _history(influencer.id) == before
    assert len(_outbox(influencer.id)) == 2


def test_an_update_whose_publish_never_happened_is_published_by_the_sweep(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer)
    # As if the process had died between its commit and its publish:
    with atomic():
        db.session.execute(update(OutboxMessage).values(published_at=None, created_at=utcnow() - timedelta(minutes=1)))
    redis_client.client.delete(history.stream_key(influencer.id))

    assert publisher.republish_overdue() == 3
    assert _history(influencer.id) == ["payment:update", "wallet:update"]
    assert all(row.published_at is not None for row in _outbox(influencer.id))
    assert publisher.republish_overdue() == 0  # once


def test_recent_unpublished_updates_are_left_to_their_own_publish(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer)
    with atomic():
        db.session.execute(update(OutboxMessage).values(published_at=None))
    assert publisher.republish_overdue() == 0


def test_published_updates_are_pruned_after_a_day(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer)
    with atomic():
        db.session.execute(update(OutboxMessage).values(published_at=utcnow() - timedelta(days=2)))
    assert publisher.prune_published() == 3
    assert _outbox(influencer.id) == []
