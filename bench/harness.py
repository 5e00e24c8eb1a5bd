"""Shared pieces of the benchmarks: load from worker processes, percentiles, the machine, results.

The servers and processes a benchmark starts come from ``devstack``; ``gunicorn()``,
``stop()``, ``wait_for_http()``, ``free_port()`` and ``PostgresDatabase`` are its pieces as the
benchmarks call them.
"""
from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import os
import platform
import time
from pathlib import Path

import devstack
from devstack import ROOT, WebProcess, free_port, wait_for_http
from devstack.postgres import ADMIN_URL

__all__ = ["RESULTS", "ROOT", "PostgresDatabase", "free_port", "gunicorn", "machine", "percentile", "post_load",
           "stop", "wait_for_http", "write_result"]

# Each benchmark writes its figures here as JSON, beside the table it prints (see README.md there).
RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class PostgresDatabase(devstack.PostgresDatabase):
    """A throwaway database ``payflow_bench_...`` on the machine's PostgreSQL."""

    def __init__(self, admin_url: str = ADMIN_URL):
        super().__init__(admin_url, prefix="payflow_bench")


def gunicorn(app: str, port: int, env: dict, *, log_path: Path) -> WebProcess:
    """One gunicorn process with one gevent worker, as the Procfile's web runs it; started, not
    yet answering (``wait_for_http`` or its ``wait_ready()``)."""
    return WebProcess({**os.environ, **env, "WEB_CONCURRENCY": "1"}, port=port, app=app, name=Path(log_path).stem,
                      log=log_path)


def stop(process: WebProcess) -> None:
    process.stop(timeout=15)


def write_result(name: str, report: dict) -> Path:
    """``report`` as ``bench/results/<name>.json``, with the machine it ran on; the file's path.

    A figure that could not be measured (NaN: a percentile of nothing) is written as null, so
    that every JSON reader takes the file.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"benchmark": name, "machine": machine(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **report}
    path.write_text(json.dumps(_measured(document), indent=2, default=str, allow_nan=False) + "\n")
    return path


def _measured(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _measured(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_measured(item) for item in value]
    return value


def _sender(args):
    port, path, requests_ = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses = [], {}
    for body, headers in requests_:
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    return latencies, statuses


def post_load(port: int, path: str, batches: list[list[tuple[bytes, dict]]]) -> dict:
    """Send each batch from its own process over one keep-alive connection; all batches at once."""
    with multiprocessing.Pool(len(batches)) as pool:
        started = time.perf_counter()
        results = pool.map(_sender, [(port, path, batch) for batch in batches])
        elapsed = time.perf_counter() - started
    latencies = [latency for result in results for latency in result[0]]
    statuses: dict[int, int] = {}
    for _, counted in results:
        for status, number in counted.items():
            statuses[status] = statuses.get(status, 0) + number
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "throughput": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
    }
