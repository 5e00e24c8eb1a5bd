"""The offline Stripe (``python -m stripe_standin``: localstripe plus Connect) as a process."""
from __future__ import annotations

import sys
from pathlib import Path

from .errors import StartError
from .ports import free_port, wait_for_port
from .process import ManagedProcess


class StripeStandin(ManagedProcess):
    """The offline Stripe on 127.0.0.1, started at once; ``url`` is its API base.

    ``options`` are extra flags (``"--payout-delay", "0.5"``: see ``stripe_standin/settings.py``).
    With no ``state_file`` it keeps nothing, so nothing is shared with other runs. With one, it
    keeps its state there; ``from_scratch`` (the default) ignores what the file held before, and
    ``restart()`` kills it and starts it again on the same port from the file.
    """

    stop_timeout = 10.0

    def __init__(self, *options: str, port: int | None = None, state_file: str | Path | None = None,
                 from_scratch: bool = True, log: str | Path | None = None, own_group: bool = True):
        super().__init__("stripe-standin", log=log, own_group=own_group)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = list(options)
        self.state_file = state_file
        try:
            self.start(from_scratch=from_scratch)
        except BaseException:
            self.close()
            raise

    def start(self, from_scratch: bool = False, timeout: float = 20.0) -> None:
        """Start it (again) on its port and wait until it listens; raises StartError if it does not."""
        command = [sys.executable, "-m", "stripe_standin", "--port", str(self.port), *self.options]
        if self.state_file:
            command += ["--state-file", str(self.state_file)]
        if from_scratch:
            command.append("--from-scratch")
        self._spawn(command)
        try:
            wait_for_port(self.port, timeout, self.process)
        except StartError as exc:
            self.kill()
            raise StartError(f"the offline Stripe: {exc}\n{self.log_text()}") from None

    def restart(self) -> None:
        """Kill it (SIGKILL: nothing gets a chance to save on the way out) and start it from its state file."""
        self.kill()
        self.start()
