"""The state file: localstripe's store and the stand-in's ``State`` in one pickle.

Written after every request that can change something and after every timed change, by writing
a temporary file beside it and renaming it over the old one, so a crash leaves either the old
or the new state, never half of one. Pickle because localstripe's objects are Python objects
that refer to each other (a PaymentIntent holds its Charge); the file is development state,
read only by the same code that wrote it.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

from . import localstripe_bridge
from .state import State

FORMAT = 1


class StateFileError(Exception):
    """The state file exists but cannot be read (damaged, or written by an incompatible version)."""


class StateFile:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> State | None:
        """The saved state, with localstripe's store put back; ``None`` when there is no file yet.

        Raises ``StateFileError`` rather than starting empty: payflow's database still refers to
        the objects in it, so losing them silently would be worse than refusing to start.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            saved = pickle.loads(raw)
            if saved.get("format") != FORMAT:
                raise ValueError(f"format {saved.get('format')!r}, expected {FORMAT}")
            state = saved["standin"]
            localstripe_bridge.replace_store(saved["localstripe"])
        except Exception as exc:
            raise StateFileError(f"cannot read the state file {self.path}: {exc}. Move it away, or start with "
                                 "--from-scratch to begin with an empty Stripe.") from exc
        # An answer still being computed when the process stopped was never given: forget the key.
        for scope in [scope for scope, record in state.idempotency.items() if record.get("status") is None]:
            del state.idempotency[scope]
        return state

    def save(self, state: State) -> None:
        payload = pickle.dumps(
            {"format": FORMAT, "standin": state, "localstripe": localstripe_bridge.store_snapshot()},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise
