"""payflow's web process: gunicorn with ``gunicorn.conf.py`` (gevent workers), as the Procfile's ``web``."""
from __future__ import annotations

import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

from .errors import StartError
from .ports import free_port, wait_for_http
from .process import ROOT, ManagedProcess


class WebProcess(ManagedProcess):
    """``gunicorn -c gunicorn.conf.py <app>`` on a port of its own, started at once.

    ``env`` is the whole environment of the process (its ``PORT`` is set here); ``app`` may be
    another WSGI application a benchmark compares against. ``wait_ready()`` waits until it
    answers; after ``stop()``, ``start()`` runs it again on the same port and waits.
    """

    stop_timeout = 30.0  # within gunicorn.conf.py's graceful timeout, open streams are ended
    quick_signal = signal.SIGINT  # gunicorn's quick shutdown

    def __init__(self, env: dict, *, port: int | None = None, app: str = "wsgi:app", name: str = "web",
                 log: str | Path | None = None, own_group: bool = True):
        super().__init__(name, log=log, own_group=own_group)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port)}
        self.app = app
        self.start(wait=False)

    def start(self, wait: bool = True, timeout: float = 30.0) -> "WebProcess":
        self._spawn([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), self.app], env=self.env)
        return self.wait_ready(timeout) if wait else self

    def wait_ready(self, timeout: float = 30.0, path: str | None = "/healthz") -> "WebProcess":
        """Until ``GET path`` answers 200 (with ``path=None``: until the port accepts connections).
        Raises StartError, with the end of its log, when it does not within ``timeout`` seconds."""
        try:
            wait_for_http(self.port, path or "/", timeout, status=200 if path else None, process=self.process)
        except StartError as exc:
            self.kill()
            raise StartError(f"{self.name} did not become ready: {exc}\n{self.log_text()}") from None
        return self

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric on this process's ``/metrics``."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        if match is None:
            raise AssertionError(f"{name} is not in /metrics of {self.name}")
        return float(match.group(1))

    def wait_metric(self, name: str, predicate, timeout: float = 10.0) -> float:
        """Until ``predicate(value)`` holds for the metric; its value. AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.metric(name)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} on {self.name} is {value} after {timeout}s")
            time.sleep(0.05)


def start_web_processes(envs: list[dict], *, names: list[str] | None = None,
                        logs: list[str | Path | None] | None = None) -> list[WebProcess]:
    """One web process per environment, booting side by side; returns once all answer.
    If one does not, all are stopped and StartError is raised."""
    names = names or [f"web{number}" for number in range(len(envs))]
    logs = logs or [None] * len(envs)
    processes: list[WebProcess] = []
    try:
        for env, name, log in zip(envs, names, logs):
            processes.append(WebProcess(env, name=name, log=log))
        for process in processes:
            process.wait_ready()
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return processes
