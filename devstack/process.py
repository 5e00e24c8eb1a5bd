"""A child process of ours: started in a process group of its own, its output in a log file.

A process group, because what we start starts others (gunicorn its workers, RQ a scheduler
beside the worker): a stop or a kill reaches all of them, as it would when a machine or a
container goes, and nothing is left behind. A log file rather than a pipe, because a pipe
nobody reads fills and stalls the child; a temporary log is kept until the interpreter exits,
so that a test or benchmark can still show it after a failure.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_temporary_logs: set[str] = set()


@atexit.register
def _remove_temporary_logs() -> None:
    for name in list(_temporary_logs):
        try:
            os.unlink(name)
        except OSError:
            pass


def signal_process(process: subprocess.Popen | None, sig: int, *, group: bool = True) -> None:
    """Send ``sig`` to ``process`` (and to its process group, with ``group``) if it still runs.

    Only while it runs: once it has been waited for, its id may belong to someone else.
    """
    if process is None or process.poll() is not None:
        return
    try:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass


def stop_process(process: subprocess.Popen | None, timeout: float = 15.0, sig: int = signal.SIGTERM, *,
                 group: bool = True) -> None:
    """Ask ``process`` to stop with ``sig``, wait up to ``timeout`` seconds, then SIGKILL it."""
    if process is None:
        return
    signal_process(process, sig, group=group)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_process(process, signal.SIGKILL, group=group)
        process.wait(10)


class ManagedProcess:
    """One long-running child process, which may be stopped, killed and started again.

    ``log``: a file to append the output to (kept), or None for a temporary one, removed by
    ``close()`` or when this interpreter exits. ``own_group=False`` leaves the child in our
    process group, so that a Ctrl+C in a terminal reaches it too (``scripts/dev.py``).
    Subclasses say how to start (``start()``) and how to stop quickly (``quick_signal``).
    """

    stop_timeout = 15.0
    quick_signal = signal.SIGTERM  # what close() sends: the fastest stop that is still clean

    def __init__(self, name: str, *, log: str | Path | None = None, own_group: bool = True):
        self.name = name
        self.own_group = own_group
        self.process: subprocess.Popen | None = None
        if log is None:
            self.log = tempfile.NamedTemporaryFile(prefix=f"payflow-{name}-", suffix=".log", delete=False)
            _temporary_logs.add(self.log.name)
            self._temporary = True
        else:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            self.log = open(log, "ab")
            self._temporary = False

    def _spawn(self, command: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> None:
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=self.own_group)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send_signal(self, sig: int) -> None:
        signal_process(self.process, sig, group=self.own_group)

    def terminate(self) -> None:
        """SIGTERM, without waiting."""
        self.send_signal(signal.SIGTERM)

    def stop(self, timeout: float | None = None) -> None:
        """A graceful stop (SIGTERM); SIGKILL after ``timeout`` seconds. The log is kept."""
        stop_process(self.process, self.stop_timeout if timeout is None else timeout, group=self.own_group)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing gets a chance to finish or save on the way out."""
        stop_process(self.process, 10, signal.SIGKILL, group=self.own_group)

    def log_text(self, limit: int = 5000) -> str:
        """The last ``limit`` characters of the output."""
        return Path(self.log.name).read_text(errors="replace")[-limit:]

    def close(self) -> None:
        """Stop quickly (``quick_signal``) and remove a temporary log: done with this process."""
        stop_process(self.process, self.stop_timeout, self.quick_signal, group=self.own_group)
        self.log.close()
        if self._temporary:
            _temporary_logs.discard(self.log.name)
            try:
                os.unlink(self.log.name)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
