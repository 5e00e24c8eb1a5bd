"""Where ``/metrics`` gets its figures: every process of payflow, on one machine or several.

On one machine (the Procfile under honcho, ``scripts/dev.py run``, one Heroku dyno with
``WEB_CONCURRENCY`` gunicorn workers) the processes share ``PROMETHEUS_MULTIPROC_DIR``:
prometheus_client's multiprocess mode keeps each process's figures in memory-mapped files
there, and ``/metrics`` adds them up. gunicorn's ``child_exit`` hook marks a dead worker so
its gauges stop counting; files of processes dead before a start are cleared then.

Machines that share no disk (Heroku's web and worker dynos, containers) meet in Redis: each
host pushes the sum of its own directory every ``METRICS_PUSH_INTERVAL_SECONDS`` under its
host id (``DYNO`` on Heroku, else the hostname), and ``/metrics`` adds every other host's
latest push to its own figures. A host that stops pushing drops out after a few intervals
(Prometheus reads the drop as a counter reset, which ``rate()`` handles).

Nothing here is imported by ``prepare_directory``'s callers before it runs: prometheus_client
decides at import whether it is in multiprocess mode.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import socket
import time

log = logging.getLogger(__name__)

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
REDIS_PREFIX = "payflow:metrics:host:"
_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def directory() -> str | None:
    return os.environ.get(DIRECTORY_VARIABLE) or None


def prepare_directory() -> None:
    """Make the shared directory if one is configured; call before importing prometheus_client."""
    path = directory()
    if path:
        os.makedirs(path, exist_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead_processes(path: str | None = None) -> int:
    """Delete the files of processes that no longer run (a previous run's); returns how many.

    Called when the web server starts. Their counters leave the sums (a reset to Prometheus)."""
    path = path or directory()
    if not path or not os.path.isdir(path):
        return 0
    removed = 0
    for name in glob.glob(os.path.join(path, "*.db")):
        match = _PID_IN_NAME.search(name)
        if match and not _alive(int(match.group(1))):
            try:
                os.remove(name)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def mark_process_dead(pid: int) -> None:
    """A gunicorn worker ended: its live gauges (open streams) no longer count."""
    if directory():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def host_id(config) -> str:
    return config.get("METRICS_HOST_ID") or socket.gethostname()


# --- figures --------------------------------------------------------------------------------


def local_families() -> list:
    """This host's metric families: the shared directory's sum, or this process's registry."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    path = directory()
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return list(registry.collect())
    return list(REGISTRY.collect())


def to_json(families) -> str:
    return json.dumps([
        {"name": family.name, "help": family.documentation, "type": family.type,
         "samples": [[sample.name, sample.labels, sample.value] for sample in family.samples]}
        for family in families
    ])


def from_json(text: str) -> list:
    from prometheus_client.metrics_core import Metric

    families = []
    for item in json.loads(text):
        family = Metric(item["name"], item["help"], item["type"])
        for name, labels, value in item["samples"]:
            family.add_sample(name, labels, value)
        families.append(family)
    return families


def merge(*groups) -> list:
    """One family per name, each sample (name and labels) summed over the groups: counters,
    histogram buckets and the live gauges (open streams) all add up across processes."""
    from prometheus_client.metrics_core import Metric

    merged: dict[str, tuple] = {}
    for families in groups:
        for family in families:
            _, _, samples = merged.setdefault(family.name, (family.documentation, family.type, {}))
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    result = []
    for name, (documentation, kind, samples) in merged.items():
        family = Metric(name, documentation, kind)
        for (sample_name, labels), value in samples.items():
            family.add_sample(sample_name, dict(labels), value)
        result.append(family)
    return result


# --- hosts that share no disk ----------------------------------------------------------------


def push(client, config) -> bool:
    """Store this host's figures in Redis for the other hosts' ``/metrics``; at most once per
    interval per host, whichever of its processes gets there first. False when not its turn."""
    interval = config.get("METRICS_PUSH_INTERVAL_SECONDS", 0)
    if interval <= 0:
        return False
    host = host_id(config)
    if not client.set(f"payflow:metrics:push-lock:{host}", "1", nx=True, ex=max(1, int(interval))):
        return False
    client.set(REDIS_PREFIX + host, to_json(local_families()), ex=max(60, 4 * int(interval)))
    return True


def remote_families(client, config) -> list[list]:
    """The latest push of every host but this one (this one's figures are read from disk)."""
    if config.get("METRICS_PUSH_INTERVAL_SECONDS", 0) <= 0:
        return []
    own = REDIS_PREFIX + host_id(config)
    keys = sorted(key.decode() if isinstance(key, bytes) else key
                  for key in client.scan_iter(match=REDIS_PREFIX + "*", count=100))
    keys = [key for key in keys if key != own]
    if not keys:
        return []
    groups = []
    for raw in client.mget(keys):
        if raw:
            try:
                groups.append(from_json(raw))
            except (ValueError, KeyError, TypeError):
                log.warning("metrics: a host's pushed figures could not be read; skipped")
    return groups


class Pusher:
    """Pushes on a timer from a process that is running anyway (a gunicorn worker, the RQ
    worker's housekeeping); ``due()`` tells the caller when."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last = 0.0

    def due(self) -> bool:
        if self.interval <= 0:
            return False
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False
