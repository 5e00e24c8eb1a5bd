"""The running stand-in: its state, where that is saved, and what every resource module shares.

Resource modules take a ``Runtime`` and call ``emit`` for each event (kept, then delivered) and
``scheduler`` for timed changes; the middleware saves the state after each request that can
change it, and timed changes and deliveries save it themselves.
"""
from __future__ import annotations

import logging

from . import corrections, events
from .delivery import Deliveries
from .persistence import StateFile
from .scheduler import Scheduler
from .settings import Settings
from .state import State

log = logging.getLogger("stripe_standin")


class Runtime:
    def __init__(self, settings: Settings, state: State, state_file: StateFile | None):
        self.settings = settings
        self.state = state
        self.state_file = state_file
        self.deliveries = Deliveries(state, settings, self.save)
        self.scheduler = Scheduler(state, self.save)

    def emit(self, event_type: str, obj: dict, *, account: str | None = None, previous: dict | None = None) -> dict:
        """Record an event about ``obj`` (on connected ``account`` if given) and start delivering it."""
        event = events.build(event_type, obj, account=account, previous=previous)
        events.keep(self.state.events, event)
        self.deliveries.dispatch(event)
        return event

    def emit_localstripe_event(self, exported: dict) -> None:
        """An event localstripe made (a PaymentIntent succeeded, ...), in Stripe's full shape."""
        obj = exported["data"]["object"]
        corrections.correct(obj)
        self.emit(exported["type"], obj)

    def save(self) -> None:
        if self.state_file is not None:
            self.state_file.save(self.state)
