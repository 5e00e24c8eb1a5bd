"""Benchmark: webhook ingest and apply throughput, against the baselines of the webhook issue.

    python -m bench.webhook_ingest [--senders 8] [--events 2000] [--apply 2000]

Part 1, ingest: payflow's ``POST /payments/webhook`` (verify, record in PostgreSQL,
queue on RQ) against a bare Flask handler that only verifies the signature, both
on one gunicorn gevent worker, under the same load: ``--senders`` processes, each
posting ``--events`` signed events over one keep-alive connection.

Part 2, apply: the worker's applied events per second (``payment_intent.succeeded``
for distinct payments: ledger capture, notifications, state change) against RQ's
own rate for a no-op job on the same worker class.

Needs PostgreSQL at 127.0.0.1:5432 and Redis (``REDIS_URL``, default
``redis://127.0.0.1:6379/13``, which it flushes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import ROOT, PostgresDatabase, free_port, gunicorn, machine, post_load, stop, wait_for_http

SECRET = "whsec_bench"


def signed_batches(senders: int, per_sender: int, tag: str) -> list[list[tuple[bytes, dict]]]:
    from payflow.webhooks import simulate

    batches = []
    for sender in range(senders):
        batch = []
        for number in range(per_sender):
            intent = {
                "id": f"pi_{tag}_{sender}_{number}", "object": "payment_intent", "amount": 5000,
                "amount_received": 0, "currency": "usd", "status": "requires_payment_method",
                "metadata": {"payment_id": f"pay_{tag}_{sender}_{number}"}, "livemode": False,
                "created": int(time.time()), "client_secret": None, "last_payment_error": None,
            }
            event = simulate.build_event("payment_intent.created", intent, event_id=f"evt_{tag}_{sender}_{number}")
            body, headers = simulate.signed(event, SECRET)
            batch.append((body, headers))
        batches.append(batch)
    return batches


def ingest(args, env: dict, logs: Path) -> dict:
    payflow_port, bare_port = free_port(), free_port()
    servers = [
        gunicorn("wsgi:app", payflow_port, env, log_path=logs / "payflow.log"),
        gunicorn("bench.bare_webhook_app:app", bare_port, env, log_path=logs / "bare.log"),
    ]
    try:
        wait_for_http(payflow_port, "/healthz")
        wait_for_http(bare_port, "/")
        results = {"payflow": [], "bare": []}
        for round_number in range(2):  # alternate, so neither always runs on a warmer machine
            for name, port in (("bare", bare_port), ("payflow", payflow_port)):
                post_load(port, "/payments/webhook", signed_batches(args.senders, 50, f"warm{name}{round_number}"))
                batches = signed_batches(args.senders, args.events // 2, f"{name}{round_number}")
                results[name].append(post_load(port, "/payments/webhook", batches))
        return {name: _merge(runs) for name, runs in results.items()}
    finally:
        for server in servers:
            stop(server)


def _merge(runs: list[dict]) -> dict:
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "requests": requests,
        "throughput": requests / seconds,
        "p50_ms": max(run["p50_ms"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
        "statuses": statuses,
    }


def apply_rate(args, env: dict) -> dict:
    """Worker throughput, in this process, with payflow's worker class."""
    os.environ.update(env)
    from rq import Queue

    from config import config_from_environment
    from jobs.worker import PayflowWorker
    from payflow import create_app
    from payflow.extensions import db, redis_client
    from payflow.webhooks import inbox

    app = create_app(config_from_environment())
    with app.app_context():
        connection = redis_client.client
        connection.flushdb()

        noop_queue = Queue(inbox.QUEUE_NAME, connection=connection)
        for number in range(args.apply):
            noop_queue.enqueue("bench.noop.noop", number, result_ttl=0)
        started = time.perf_counter()
        PayflowWorker([noop_queue], connection=connection, app=app).work(burst=True, logging_level="WARNING")
        noop_seconds = time.perf_counter() - started

        def applied_per_second(batch: int) -> float:
            event_ids = _recorded_success_events(app, args.apply)
            with connection.pipeline(transaction=False) as pipe:
                for start in range(0, len(event_ids), batch):
                    if batch == 1:
                        inbox.enqueue(event_ids[start], pipeline=pipe)
                    else:
                        inbox.enqueue_batch(event_ids[start:start + batch], pipeline=pipe)
                pipe.execute()
            started = time.perf_counter()
            PayflowWorker([noop_queue], connection=connection, app=app).work(burst=True, logging_level="WARNING")
            return args.apply / (time.perf_counter() - started)

        single = applied_per_second(1)
        batched = applied_per_second(args.senders)
        processed = db.session.execute(
            db.text("SELECT count(*) FROM webhook_events WHERE status = 'processed' AND type = 'payment_intent.succeeded'")
        ).scalar()
    return {
        "jobs": args.apply,
        "noop_per_second": args.apply / noop_seconds,
        "applied_per_second": single,
        "batched_per_second": batched,
        "processed": processed,
        "expected": 2 * args.apply,
    }


def _recorded_success_events(app, count: int) -> list[str]:
    """Distinct PENDING payments with their intents, and a recorded success event for each."""
    from payflow.extensions import db
    from payflow.ids import new_id
    from payflow.models import Payment, PaymentAttempt, User, WebhookEvent, utcnow
    from payflow.webhooks import simulate

    tag = new_id("b")[-8:]
    company = User(email=f"bench-company-{tag}@example.test", password_hash="x", role="company", name="Bench Co")
    influencer = User(email=f"bench-influencer-{tag}@example.test", password_hash="x", role="influencer", name="Bench")
    db.session.add_all([company, influencer])
    db.session.flush()
    event_ids = []
    for number in range(count):
        payment = Payment(id=new_id("pay"), company_id=company.id, influencer_id=influencer.id, amount=5000 + number,
                          currency="usd", status="PENDING", fee_bps=1000,
                          stripe_payment_intent_id=f"pi_apply_{tag}_{number}")
        db.session.add(payment)
        db.session.add(PaymentAttempt(payment_id=payment.id, stripe_payment_intent_id=payment.stripe_payment_intent_id))
        event = simulate.event_for("payment_intent.succeeded", payment=payment)
        db.session.add(WebhookEvent(id=event["id"], type=event["type"], payload=json.dumps(event), status="received",
                                    attempts=0, received_at=utcnow(), object_id=payment.stripe_payment_intent_id))
        event_ids.append(event["id"])
    db.session.commit()
    return event_ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--events", type=int, default=2000, help="events per sender, over two rounds")
    parser.add_argument("--apply", type=int, default=2000, help="events (and no-op jobs) for the worker part")
    args = parser.parse_args()

    database = PostgresDatabase()
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    env = {
        "PAYFLOW_ENV": "production",
        "DATABASE_URL": database.url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "JWT_SECRET_KEY": "bench-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
    }
    try:
        subprocess.check_call([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ingest_results = ingest(args, env, logs)
        apply_results = apply_rate(args, env)
    finally:
        database.drop()

    payflow, bare = ingest_results["payflow"], ingest_results["bare"]
    print(f"machine: {machine()}")
    print(f"load: {args.senders} senders x {args.events} signed events each, keep-alive, one gunicorn gevent worker")
    print()
    print("| server | events/s | p50 ms | p99 ms | answers |")
    print("|---|---|---|---|---|")
    for name, result in (("bare Flask (verify only)", bare), ("payflow (verify, record, queue)", payflow)):
        print(f"| {name} | {result['throughput']:.0f} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
              f"{result['statuses']} |")
    print(f"\ningest ratio payflow / bare: {payflow['throughput'] / bare['throughput']:.2f} "
          f"(must be >= 0.5, aim 0.7); payflow p99 {payflow['p99_ms']:.1f} ms (must be <= 20)")
    print()
    print("| worker (SimpleWorker, in process) | jobs/s |")
    print("|---|---|")
    print(f"| RQ no-op job | {apply_results['noop_per_second']:.0f} |")
    print(f"| payflow apply, one event per job (payment_intent.succeeded) | {apply_results['applied_per_second']:.0f} |")
    print(f"| payflow apply, {args.senders} events per job (as the web process batches them under this load) | "
          f"{apply_results['batched_per_second']:.0f} |")
    noop = apply_results["noop_per_second"]
    print(f"\napply ratio payflow / no-op: {apply_results['applied_per_second'] / noop:.2f} one per job, "
          f"{apply_results['batched_per_second'] / noop:.2f} batched (aim 0.7); "
          f"{apply_results['processed']}/{apply_results['expected']} events processed")
    ok = payflow["statuses"].get(200, 0) == payflow["requests"] and apply_results["processed"] == apply_results["expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
