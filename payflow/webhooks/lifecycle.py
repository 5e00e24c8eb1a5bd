"""The lifecycle of a recorded Stripe event: one vocabulary of statuses, one transition rule.

Design
------
::

    received ──job──▶ processed | ignored | flagged        (final: a job decided)
      │  ▲  ╲
      │  │   ▶ unqueued (Redis was down) ──sweep──▶ received
      │  │
      ▼  └──sweep, woken, replay──┐
    retrying ──────────────────▶ dead ──replay, woken──▶ received
                                      ignored, flagged (not applied) ──replay──▶ received

* ``received``: recorded; a job is queued, or will be by the sweep.
* ``unqueued``: recorded while Redis was down; the sweep queues it.
* ``retrying``: an attempt failed; the next is due at ``next_attempt_at``.
* ``processed``: applied. ``ignored``: nothing to apply (a type payflow does not
  handle, a fact already applied or overtaken, an object payflow did not create).
* ``flagged``: contradicts payflow's records; ``flag_reason`` says which kind
  (``payflow.flags``). ``applied`` tells one that was applied anyway because money
  really moved (a duplicate capture) from one that was not (an amount not ours).
  Only one that was not applied can be replayed.
* ``dead``: retries exhausted; an operator replays it once the cause is fixed.

``transition`` (one row, locked by the caller) and ``transition_where`` (many rows in
one UPDATE) are the only writers of ``status``; both refuse what ``TRANSITIONS`` does
not allow. The route records new events as ``INITIAL``; jobs, the sweep, replay and
the CLI all move them through here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, false, func, or_, select, update

from .. import metrics
from ..errors import InvalidTransition
from ..extensions import db
from ..flags import Flag
from ..models import WebhookEvent, utcnow

log = logging.getLogger(__name__)


class Status(StrEnum):
    RECEIVED = "received"
    UNQUEUED = "unqueued"
    RETRYING = "retrying"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FLAGGED = "flagged"
    DEAD = "dead"


RECEIVED, UNQUEUED, RETRYING = Status.RECEIVED, Status.UNQUEUED, Status.RETRYING
PROCESSED, IGNORED, FLAGGED, DEAD = Status.PROCESSED, Status.IGNORED, Status.FLAGGED, Status.DEAD

INITIAL = RECEIVED
_DECIDED = {PROCESSED, IGNORED, FLAGGED}
TRANSITIONS: dict[Status, frozenset[Status]] = {
    RECEIVED: frozenset({RECEIVED, UNQUEUED, RETRYING, DEAD, *_DECIDED}),
    UNQUEUED: frozenset({RECEIVED, RETRYING, DEAD, *_DECIDED}),
    RETRYING: frozenset({RECEIVED, RETRYING, DEAD, *_DECIDED}),
    PROCESSED: frozenset(),
    IGNORED: frozenset({RECEIVED}),
    FLAGGED: frozenset({RECEIVED}),  # only when it was not applied
    DEAD: frozenset({RECEIVED}),
}
# A job leaves these alone: they wait for an operator, or are done.
FINAL = frozenset({PROCESSED, IGNORED, FLAGGED, DEAD})
# Not yet applied, and a job is (or the sweep will make one) on its way.
PENDING = frozenset({RECEIVED, UNQUEUED, RETRYING})


class InvalidEventTransition(InvalidTransition):
    code = "invalid_event_transition"


def can_move(status: str, applied: bool, to: Status) -> bool:
    """Whether an event in ``status`` may move to ``to``: ``TRANSITIONS``, and an applied
    flagged event stays as it is (replaying it could apply nothing more)."""
    if to not in TRANSITIONS[Status(status)]:
        return False
    return not (status == FLAGGED and applied)


def transition(event: WebhookEvent, to: Status, **changes) -> None:
    """Move one event (its row locked by the caller) to ``to`` and set ``changes`` with it.

    Raises ``InvalidEventTransition`` for a move ``TRANSITIONS`` does not allow.
    """
    if not can_move(event.status, event.applied, to):
        raise InvalidEventTransition(f"webhook event {event.id} cannot go from {event.status} to {to}")
    event.status = to
    for name, value in changes.items():
        setattr(event, name, value)


def transition_where(event_ids, to: Status, *, only_from=None, **values) -> int:
    """Move the events among ``event_ids`` whose status may go to ``to`` (and is in
    ``only_from`` when given), in one UPDATE; the others are left as they are (another
    process moved them first). Returns how many moved."""
    sources = {status for status in Status if to in TRANSITIONS[status]}
    if only_from is not None:
        if not set(only_from) <= sources:
            raise InvalidEventTransition(f"webhook events cannot go from {sorted(set(only_from) - sources)} to {to}")
        sources = set(only_from)
    if not event_ids or not sources:
        return 0
    allowed = WebhookEvent.status.in_(sources - {FLAGGED})
    if FLAGGED in sources:
        allowed = or_(allowed, and_(WebhookEvent.status == FLAGGED, WebhookEvent.applied == false()))
    result = db.session.execute(
        update(WebhookEvent).where(WebhookEvent.id.in_(list(event_ids)), allowed).values(status=to, **values),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount


# --- the moves, by who makes them ------------------------------------------------------


def decide(event: WebhookEvent, status: Status, outcome: str, *, applied: bool, flag: Flag | None = None) -> None:
    """A job's verdict: ``processed``, ``ignored`` or ``flagged`` (with ``flag``'s reason)."""
    if (status == FLAGGED) != (flag is not None):
        raise ValueError("a flagged event needs its flag, and only a flagged one has one")
    now = utcnow()
    transition(
        event, status,
        outcome=outcome[:2000], applied=applied, attempts=event.attempts + 1, processed_at=now, next_attempt_at=None,
        flag_reason=flag.reason if flag else None, last_error=flag.message[:2000] if flag else event.last_error,
    )
    metrics.WEBHOOKS_APPLIED.labels(str(status)).inc()
    metrics.WEBHOOK_LATENCY.observe((now - event.received_at).total_seconds())
    if flag is not None:
        metrics.WEBHOOKS_FLAGGED.labels(flag.reason).inc()
        log.error("webhook.flagged event_id=%s type=%s reason=%s applied=%s message=%r",
                  event.id, event.type, flag.reason, "yes" if applied else "no", flag.message)


def attempt_failed(event: WebhookEvent, message: str, *, retry_in: float | None) -> None:
    """An attempt raised: ``retrying`` when ``retry_in`` seconds are left to wait, else ``dead``."""
    if retry_in is None:
        transition(event, DEAD, attempts=event.attempts + 1, last_error=message[:2000], next_attempt_at=None)
    else:
        transition(event, RETRYING, attempts=event.attempts + 1, last_error=message[:2000],
                   next_attempt_at=utcnow() + timedelta(seconds=retry_in))


def replay(event: WebhookEvent) -> bool:
    """An operator's fresh set of attempts; False when the event cannot be replayed
    (processed, or applied and flagged: there is nothing left to apply)."""
    if not can_move(event.status, event.applied, RECEIVED):
        return False
    transition(event, RECEIVED, attempts=0, next_attempt_at=None, received_at=utcnow(), flag_reason=None)
    return True


def mark_unqueued(event_ids) -> int:
    """Recorded, but Redis refused the job: the sweep queues them."""
    return transition_where(event_ids, UNQUEUED, only_from={RECEIVED})


def requeued(event_ids, now: datetime, *, only_from, fresh_attempts: bool = False) -> int:
    """Queued again (by the sweep, or woken by the event they waited for): their clock restarts."""
    values = {"received_at": now, "next_attempt_at": None}
    if fresh_attempts:
        values["attempts"] = 0
    return transition_where(event_ids, RECEIVED, only_from=only_from, **values)


# --- reading ---------------------------------------------------------------------------


def flagged_by_reason() -> dict[str, int]:
    """How many events are flagged now, by reason class."""
    rows = db.session.execute(
        select(WebhookEvent.flag_reason, func.count())
        .where(WebhookEvent.status == FLAGGED)
        .group_by(WebhookEvent.flag_reason)
    ).all()
    return {reason or "unknown": count for reason, count in rows}
