"""Benchmark: SSE fan-out, payflow against flask-sse, and webhook-to-browser latency.

    python -m bench.sse_fanout [--streams 2000,10000] [--users 100] [--events 200]

Each server runs as one gunicorn process with one gevent worker, on its own
Redis server (so connections can be counted). For each stream count, the
streams are spread over ``--users`` users, then ``--events`` events are
published, each to one user, and the time until every stream of that user has it
is measured. Reported: memory per stream (RSS growth of the worker / streams),
Redis connections of the web process, delivery latency p50/p99. flask-sse runs
as its documentation shows (one channel per user); it needs
``pip install -r requirements-bench.txt``.

Then payflow end to end: signed ``payment_intent.succeeded`` webhooks at 20 per
second into the web process, applied by a worker process, delivered to every
open stream of the influencer; latency from the webhook post to the browser.

It prints a table and writes the same figures to ``bench/results/sse_fanout.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
from pathlib import Path

import redis

from bench.harness import PostgresDatabase, machine, percentile, write_result
from bench.sse_client import open_streams
from devstack import RedisServer, WebProcess, WorkerProcess, migrate

SECRET = "whsec_bench"
JWT_SECRET = "bench-" + "j" * 40


def worker_pid(master: WebProcess) -> int:
    """The pid of the gunicorn master's one worker, whose memory is measured."""
    for _ in range(100):
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def redis_connections(url: str, exclude_name: str) -> int:
    clients = redis.Redis.from_url(url).client_list()
    return sum(1 for c in clients if c.get("name") != exclude_name and c.get("cmd") != "client|list")


def measure(name: str, port: int, pid: int, redis_url: str, streams: int, users: list[str], paths, publish,
            events: int) -> dict:
    async def run():
        base = rss_kib(pid)
        specs = [(users[i % len(users)], *paths(users[i % len(users)])) for i in range(streams)]
        silent = name != "payflow"
        try:
            readers = await open_streams(port, specs, opens_silently=silent)
        except Exception as exc:  # the baseline may fall over: that is a result too
            return {"server": name, "streams": streams, "error": f"{type(exc).__name__}: {exc}"[:120]}
        # A silent server gets time to subscribe every stream before anything is published.
        await asyncio.sleep(1.0 + (streams / 500 if silent else 0))
        failed = sum(1 for r in readers if r.task.done() and r.task.exception())
        if failed:
            return {"server": name, "streams": streams, "error": f"{failed} streams failed"}
        memory = rss_kib(pid) - base
        connections = redis_connections(redis_url, "bench")
        # One untimed event first: the first publish pays for connections and script loading.
        await asyncio.get_running_loop().run_in_executor(None, publish, None, -1)
        await asyncio.sleep(0.5)
        for number in range(events):
            user = random.choice(users)
            await asyncio.get_running_loop().run_in_executor(None, publish, user, number)
            await asyncio.sleep(0.02)
        await asyncio.sleep(2.0)
        latencies = [latency for reader in readers for latency in reader.latencies]
        delivered = len(latencies)
        for reader in readers:
            reader.close()
        await asyncio.sleep(0.5)
        return {
            "server": name, "streams": streams, "kib_per_stream": memory / streams, "redis_connections": connections,
            "delivered": delivered, "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        }

    return asyncio.run(run())


def web_process(app_path: str, env: dict, name: str, log: Path) -> WebProcess:
    """One gunicorn process with one gevent worker, as the Procfile's web runs it."""
    return WebProcess({**os.environ, **env, "WEB_CONCURRENCY": "1"}, app=app_path, name=name, log=log)


def bench_server(name, app_path, env, redis_url, counts, users, paths, publish, events, logs) -> list[dict]:
    master = web_process(app_path, {**env, "REDIS_URL": redis_url}, f"sse-{name}", logs / f"sse-{name}.log")
    try:
        if name == "payflow":
            master.wait_ready()
        else:  # flask-sse has no health check, and its stream never ends: listening, then time to boot
            master.wait_ready(path=None)
            time.sleep(2)
        pid = worker_pid(master)
        results = []
        for streams in counts:
            results.append(measure(name, master.port, pid, redis_url, streams, users, paths, publish, events))
            time.sleep(2)
        return results
    finally:
        master.stop(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="2000,10000")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--e2e-seconds", type=int, default=10)
    parser.add_argument("--e2e-streams", type=int, default=2000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = [int(c) for c in args.streams.split(",")]
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))

    database = PostgresDatabase()
    # A Redis each, so that each server's connections can be counted; flask-sse takes one per stream.
    payflow_redis, sse_redis = RedisServer(max_clients=10000), RedisServer(max_clients=10000)
    payflow_redis_url, sse_redis_url = payflow_redis.url, sse_redis.url
    env = {
        "PAYFLOW_ENV": "production", "DATABASE_URL": database.url, "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": SECRET, "JWT_SECRET_KEY": JWT_SECRET, "LOG_LEVEL": "WARNING", "ACCESS_LOG": "",
        "SSE_HEARTBEAT_SECONDS": "15", "JWT_ACCESS_TOKEN_EXPIRES_SECONDS": "7200",
    }
    os.environ.update({**env, "REDIS_URL": payflow_redis_url})
    results = []
    try:
        migrate(dict(os.environ))
        from flask_jwt_extended import create_access_token

        from config import config_from_environment
        from payflow import create_app
        from payflow.extensions import db
        from payflow.models import User
        from payflow.publisher import publish as payflow_publish

        app = create_app(config_from_environment())
        with app.app_context():
            people = [User(email=f"bench{i}@example.test", password_hash="x", role="influencer", name=f"B{i}")
                      for i in range(args.users)]
            db.session.add_all(people)
            db.session.commit()
            users = [u.id for u in people]
            tokens = {u.id: create_access_token(identity=u) for u in people}
        redis.Redis.from_url(payflow_redis_url).client_setname("bench")

        def payflow_paths(user):
            return "/payments/stream", {"Authorization": f"Bearer {tokens[user]}"}

        def payflow_send(user, number):
            with app.app_context():
                if user is None:  # warm-up, to nobody
                    payflow_publish("warm-up", "wallet:update", {"n": number})
                    return
                payflow_publish(user, "wallet:update", {"currency": "usd", "sentAt": time.time(), "n": number})

        results += bench_server("payflow", "wsgi:app", env, payflow_redis_url, counts, users, payflow_paths,
                                payflow_send, args.events, logs)

        try:
            import flask_sse  # noqa: F401
        except ImportError:
            print("flask-sse is not installed (pip install -r requirements-bench.txt): baseline skipped")
        else:
            from flask import Flask
            from flask_sse import sse

            sse_app = Flask("bench-sse")
            sse_app.config["REDIS_URL"] = sse_redis_url

            def sse_paths(user):
                return f"/stream?channel={user}", {}

            def sse_send(user, number):
                with sse_app.app_context():
                    if user is None:
                        sse.publish({"n": number}, type="wallet:update", channel="warm-up")
                        return
                    sse.publish({"sentAt": time.time(), "n": number}, type="wallet:update", channel=user)

            results += bench_server("flask-sse", "bench.flask_sse_app:app", env, sse_redis_url, counts, users,
                                    sse_paths, sse_send, args.events, logs)

        e2e = end_to_end(args, env, payflow_redis_url, app, users, tokens, logs)
    finally:
        for server in (payflow_redis, sse_redis):
            server.stop()
        database.drop()

    print(f"machine: {machine()}")
    print(f"{args.users} users; {args.events} targeted events per run; one gunicorn gevent worker per server\n")
    print("| server | streams | KiB per stream | Redis connections | deliveries | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['server']} | {r['streams']} | failed: {r['error']} | | | | |")
            continue
        print(f"| {r['server']} | {r['streams']} | {r['kib_per_stream']:.1f} | {r['redis_connections']} | "
              f"{r['delivered']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    print(f"\nwebhook -> job -> browser, {e2e['rate']} events/s for {e2e['seconds']}s, {e2e['streams']} streams open: "
          f"{e2e['delivered']}/{e2e['expected']} delivered, p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms")
    path = write_result("sse_fanout", {"users": args.users, "events": args.events, "fanout": results,
                                       "end_to_end": e2e})
    print(f"\nresult: {path.relative_to(path.parents[2])}")
    return 0


def end_to_end(args, env, redis_url, app, users, tokens, logs) -> dict:
    """Signed webhooks at 20/s -> web -> RQ worker -> every stream of the influencer."""
    import http.client

    from payflow.extensions import db
    from payflow.ids import new_id
    from payflow.models import Payment, PaymentAttempt, User
    from payflow.webhooks import simulate

    rate, seconds = 20, args.e2e_seconds
    count = rate * seconds
    with app.app_context():
        company = User(email="bench-company@example.test", password_hash="x", role="company", name="Co")
        db.session.add(company)
        db.session.flush()
        payments = []
        for number in range(count):
            payment = Payment(id=new_id("pay"), company_id=company.id, influencer_id=users[number % len(users)],
                              amount=1000 + number, currency="usd", status="PENDING", fee_bps=1000,
                              stripe_payment_intent_id=f"pi_e2e_{number}_{new_id('x')[-8:]}")
            db.session.add(payment)
            db.session.add(PaymentAttempt(payment_id=payment.id, stripe_payment_intent_id=payment.stripe_payment_intent_id))
            payments.append(payment)
        db.session.commit()
        events = [simulate.event_for("payment_intent.succeeded", payment=p) for p in payments]
        influencer_of = {p.id: p.influencer_id for p in payments}

    full_env = {**env, "REDIS_URL": redis_url}
    master = web_process("wsgi:app", full_env, "e2e-web", logs / "e2e-web.log")
    port = master.port
    worker = WorkerProcess({**os.environ, **full_env}, name="e2e-worker", log=logs / "e2e-worker.log")
    sent_at: dict[str, float] = {}
    try:
        master.wait_ready()

        async def run():
            specs = [(users[i % len(users)], "/payments/stream",
                      {"Authorization": f"Bearer {tokens[users[i % len(users)]]}"}) for i in range(args.e2e_streams)]
            readers = await open_streams(port, specs)
            by_user = {}
            for reader in readers:
                by_user.setdefault(reader.user, []).append(reader)

            def post(event):
                body, headers = simulate.signed(event, SECRET)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                sent_at[event["data"]["object"]["metadata"]["payment_id"]] = time.time()
                conn.request("POST", "/payments/webhook", body=body, headers=headers)
                conn.getresponse().read()
                conn.close()

            loop = asyncio.get_running_loop()
            started = time.monotonic()
            for number, event in enumerate(events):
                await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
                loop.run_in_executor(None, post, event)
            await asyncio.sleep(5)
            return readers, by_user

        readers, by_user = asyncio.run(run())
    finally:
        master.stop(timeout=15)
        worker.stop(timeout=20)
    latencies = []
    delivered = 0
    expected = sum(len(by_user.get(influencer_of[pid], [])) for pid in sent_at)
    for reader in readers:
        for arrival in reader.arrivals:
            payment_id, received = arrival
            if payment_id in sent_at:
                latencies.append(received - sent_at[payment_id])
                delivered += 1
    return {"rate": rate, "seconds": seconds, "streams": args.e2e_streams, "expected": expected, "delivered": delivered,
            "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


if __name__ == "__main__":
    sys.exit(main())
