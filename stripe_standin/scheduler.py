"""Timed changes that survive a restart: "pay this payout at 12:00:02".

A job is kept in ``State.schedule`` (due time, kind, target id) until it has run, so a stand-in
stopped before a payout's outcome settles it when it starts again (at once if the time has
passed). Each job kind has one handler, a plain function of the target id; a job whose target
has meanwhile moved on (a payout canceled before it was paid) is the handler's to ignore.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable

from .ids import new_id
from .state import State

log = logging.getLogger("stripe_standin.scheduler")


class Scheduler:
    def __init__(self, state: State, changed: Callable[[], None]):
        self.state = state
        self.changed = changed
        self.handlers: dict[str, Callable[[str], None]] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def handle(self, kind: str, handler: Callable[[str], None]) -> None:
        self.handlers[kind] = handler

    def at(self, due: float, kind: str, target: str) -> str:
        """Run ``kind``'s handler on ``target`` at unix time ``due`` (seconds)."""
        job_id = new_id("job_")
        self.state.schedule[job_id] = {"due": due, "kind": kind, "target": target}
        self._start(job_id)
        return job_id

    def resume(self) -> None:
        """Start the jobs a previous run left behind."""
        for job_id in list(self.state.schedule):
            self._start(job_id)

    def _start(self, job_id: str) -> None:
        # a fresh context: the job belongs to no API request
        task = asyncio.get_running_loop().create_task(self._run(job_id), context=contextvars.Context())
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(self, job_id: str) -> None:
        job = self.state.schedule[job_id]
        await asyncio.sleep(max(0.0, job["due"] - time.time()))
        job = self.state.schedule.pop(job_id, None)
        if job is None:
            return
        try:
            self.handlers[job["kind"]](job["target"])
        except Exception:
            log.exception("job %s %s on %s failed", job_id, job["kind"], job["target"])
        self.changed()

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
