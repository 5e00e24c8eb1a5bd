"""Does password hashing stall other requests? ``/healthz`` latency while logins run.

One gunicorn gevent worker (the Procfile's ``web``) on SQLite; 8 threads sign in as fast as
they can for a few seconds while another client asks ``/healthz`` every 20 ms. Run twice:
hashing inline on the event loop's thread (``PASSWORD_HASHING_IN_THREADS=false``) and in
gevent's thread pool (the default). Prints the ``/healthz`` latency percentiles of each, and
writes them to ``bench/results/login_latency.json``.

    .venv/bin/python -m bench.login_latency
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request

from bench.harness import machine, write_result
from devstack import WebProcess, run_flask

LOGIN_THREADS = 8
SECONDS = 6
PROBE_INTERVAL = 0.02
EMAIL, PASSWORD = "bench@example.test", "bench-password-123"


def _post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(in_threads: bool) -> dict:
    workdir = tempfile.mkdtemp(prefix="login-bench-")
    env = {**os.environ, "PAYFLOW_ENV": "test", "DATABASE_URL": f"sqlite:///{workdir}/payflow.db",
           "JWT_SECRET_KEY": "bench-secret-long-enough-for-hs256-tokens", "ACCESS_LOG": "", "LOG_LEVEL": "WARNING",
           "WEB_CONCURRENCY": "1", "FLASK_SKIP_DOTENV": "1",
           "AUTH_RATE_LIMIT_PER_ADDRESS": "100000 per minute", "AUTH_RATE_LIMIT_PER_ACCOUNT": "100000 per minute",
           "PASSWORD_HASHING_IN_THREADS": "true" if in_threads else "false"}
    run_flask(env, "db", "upgrade")
    run_flask(env, "users", "create", EMAIL, "--role", "company", "--password", PASSWORD)
    server = WebProcess(env, name="login-bench")
    try:
        server.wait_ready()
        base = server.url
        stop = threading.Event()
        logins: list[int] = []

        def sign_in():
            while not stop.is_set():
                logins.append(_post(f"{base}/auth/login", {"email": EMAIL, "password": PASSWORD}))

        probes: list[float] = []
        threads = [threading.Thread(target=sign_in) for _ in range(LOGIN_THREADS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            started = time.perf_counter()
            with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
                response.read()
            probes.append((time.perf_counter() - started) * 1000)
            time.sleep(PROBE_INTERVAL)
        stop.set()
        for thread in threads:
            thread.join()
        assert logins and all(status == 200 for status in logins), set(logins)
        return {"logins_per_s": len(logins) / SECONDS, "p50_ms": statistics.median(probes),
                "p99_ms": _percentile(probes, 0.99), "max_ms": max(probes), "probes": len(probes)}
    finally:
        server.close()


def main() -> None:
    print(machine())
    print("| hashing | logins/s | /healthz p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    runs = []
    for in_threads, label in ((False, "inline (event loop's thread)"), (True, "gevent thread pool")):
        result = run(in_threads)
        runs.append({"hashing": label, "password_hashing_in_threads": in_threads, **result})
        print(f"| {label} | {result['logins_per_s']:.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
              f"{result['max_ms']:.1f} |", flush=True)
    path = write_result("login_latency", {"login_threads": LOGIN_THREADS, "seconds": SECONDS,
                                          "probe_interval_s": PROBE_INTERVAL, "runs": runs})
    print(f"\nresult: {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
