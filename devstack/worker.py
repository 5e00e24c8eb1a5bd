"""payflow's worker process: ``flask --app wsgi worker``, as the Procfile's ``worker``."""
from __future__ import annotations

import signal
from pathlib import Path

from .commands import flask_command
from .process import ManagedProcess


class WorkerProcess(ManagedProcess):
    """The RQ worker (with the scheduler RQ forks beside it, in the same process group), started at once.

    ``stop()`` is RQ's warm shutdown (the job in hand is finished first); ``kill()`` is a crash,
    and ``start()`` then runs a new worker, as a process manager would.
    """

    stop_timeout = 20.0
    quick_signal = signal.SIGKILL  # nothing of a worker's needs a clean end when a run is over

    def __init__(self, env: dict, *, name: str = "worker", log: str | Path | None = None, own_group: bool = True):
        super().__init__(name, log=log, own_group=own_group)
        self.env = env
        self.start()

    def start(self) -> "WorkerProcess":
        self._spawn(flask_command("worker"), env=self.env)
        return self
