"""Shared pieces of the benchmarks: servers on this machine, load from worker processes, percentiles."""
from __future__ import annotations

import http.client
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(port: int, path: str = "/", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answering on port {port}")


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


class PostgresDatabase:
    def __init__(self, admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"):
        import psycopg

        self.admin_url = admin_url
        self.name = f"payflow_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = admin_url.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def gunicorn(app: str, port: int, env: dict, *, log_path: Path) -> subprocess.Popen:
    """One gunicorn process with one gevent worker, as the Procfile's web runs it."""
    env = {**os.environ, **env, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


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
