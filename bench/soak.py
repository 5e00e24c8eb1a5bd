"""Soak: the real stack under load and faults, then a check that nothing was lost, doubled or unbalanced.

    python -m bench.soak            # the full run (a few minutes)
    python -m bench.soak --short    # under two minutes; CI runs it

Two web processes, two RQ workers, PostgreSQL, a private Redis and the offline Stripe.
Signed events for a few hundred payments and payouts arrive with about a third
delivered two or three times and the order shuffled (late failures after
successes, refunds and dispute endings before what they depend on), while:
a worker is killed with SIGKILL (twice), Redis is killed and restarted (queues,
pub/sub and stream history lost), and the database refuses connections for a few
seconds (webhooks then answer 503 and are delivered again, as Stripe would).
SSE clients stay connected throughout and reconnect with Last-Event-ID.

At the end it checks, and exits non-zero if any check fails: every payment and
payout is in the state its events imply; every ledger transaction happened
once; the ledger balances; every wallet equals its entries; no 500 was
answered; every client got every update addressed to it (a ``resync`` is
excused only where Redis history was really lost, and then the client's
refetched state must be right). It prints the figures and writes them, with every check's
outcome, to ``bench/results/soak.json`` (``soak-short.json`` for ``--short``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import psycopg
import requests

from bench.harness import machine, percentile, write_result
from bench.soak_clients import ClientFleet, SoakClient
from devstack import Stack

SECRET = "whsec_soak"
PROFILES = {
    "full": {"companies": 10, "influencers": 40, "payments": 400, "clients": 300, "senders": 8, "db_outage": 4,
             "phase_seconds": 60},
    "short": {"companies": 3, "influencers": 8, "payments": 50, "clients": 30, "senders": 6, "db_outage": 3,
              "phase_seconds": 20},
}
FINAL = ["processed", "ignored", "flagged", "dead"]


class Run:
    def __init__(self, stack: Stack, profile: dict, rng: random.Random):
        self.stack = stack
        self.profile = profile
        self.rng = rng
        self.ports = stack.web_ports
        self.answers: dict[int, int] = {}
        self.webhook_latencies: list[float] = []
        self.first_sent: dict[str, float] = {}
        self.redelivered = 0
        self.posting_seconds = 0.0  # summed over senders
        self.lock = threading.Lock()
        self.faults: list[dict] = []
        self.redis_lost: tuple[float, float] | None = None
        self.problems: list[str] = []

    # --- helpers -----------------------------------------------------------------------

    def url(self, path: str, index: int | None = None) -> str:
        port = self.ports[index if index is not None else self.rng.randrange(2)]
        return f"http://127.0.0.1:{port}{path}"

    def api(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, self.url(path), headers=headers, timeout=30, **kwargs)
        if response.status_code >= 500:
            self.problems.append(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        return response

    def sql(self, query: str, params=()):
        for _ in range(120):  # the harness waits out the database outage it caused
            try:
                with psycopg.connect(self.stack.database.url, autocommit=True) as conn:
                    return conn.execute(query, params).fetchall()
            except psycopg.OperationalError:
                time.sleep(0.25)
        raise RuntimeError("the database did not come back")

    # --- delivery ----------------------------------------------------------------------

    def _post(self, event: dict) -> bool:
        from payflow.webhooks import simulate

        body, headers = simulate.signed(event, SECRET)
        started = time.time()
        with self.lock:
            self.first_sent.setdefault(event["id"], started)
        try:
            response = requests.post(self.url("/payments/webhook"), data=body, headers=headers, timeout=30)
            status = response.status_code
        except requests.RequestException:
            status = 0
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1
            self.posting_seconds += time.time() - started
            if status == 200:
                self.webhook_latencies.append(time.time() - started)
        return status == 200

    def deliver(self, deliveries: list[dict], schedule: list[tuple[float, callable]], seconds: float) -> float:
        """Post every delivery with ``senders`` at once; run each fault when its share of the
        deliveries has gone out; deliver again (as Stripe does) whatever was not answered 200."""
        started = time.time()
        pending = sorted(schedule, key=lambda item: item[0])
        fault_threads = []
        failed: list[dict] = []
        batch = max(1, len(deliveries) // 40)
        with ThreadPoolExecutor(self.profile["senders"]) as pool:
            for offset in range(0, len(deliveries), batch):
                # Spread over ``seconds``, as traffic is, so that each fault meets a stream of events.
                time.sleep(max(0.0, started + seconds * offset / len(deliveries) - time.time()))
                while pending and offset >= pending[0][0] * len(deliveries):
                    thread = threading.Thread(target=pending.pop(0)[1], daemon=True)
                    thread.start()
                    fault_threads.append(thread)
                chunk = deliveries[offset:offset + batch]
                for event, ok in zip(chunk, pool.map(self._post, chunk)):
                    if not ok:
                        failed.append(event)
            for thread in fault_threads:
                thread.join()
            rounds = 0
            while failed and rounds < 60:
                time.sleep(1)
                rounds += 1
                retry, failed = failed, []
                self.redelivered += len(retry)
                for event, ok in zip(retry, pool.map(self._post, retry)):
                    if not ok:
                        failed.append(event)
        if failed:
            self.problems.append(f"{len(failed)} deliveries were never accepted")
        return time.time() - started

    def wait_drained(self, timeout: float) -> float:
        started = time.time()
        while time.time() - started < timeout:
            rows = self.sql("SELECT count(*) FROM webhook_events WHERE status <> ALL(%s)", (FINAL,))
            if rows[0][0] == 0:
                return time.time() - started
            time.sleep(0.25)
        left = self.sql("SELECT id, type, status, last_error FROM webhook_events WHERE status <> ALL(%s) LIMIT 5", (FINAL,))
        self.problems.append(f"events still unfinished after {timeout}s: {left}")
        return timeout

    # --- faults ------------------------------------------------------------------------

    def _drain_after(self, name: str, recovered_at: float) -> None:
        """Time from recovery until the events the fault held up (recorded, not yet attempted
        or lost from the queue) have been applied, or are waiting for an event they depend on
        that has not been delivered yet (that wait is the run's shuffling, not the fault)."""
        held = ["received", "unqueued"]
        backlog = [row[0] for row in self.sql("SELECT id FROM webhook_events WHERE status = ANY(%s)", (held,))]
        while backlog and time.time() - recovered_at < 120:
            rows = self.sql("SELECT count(*) FROM webhook_events WHERE id = ANY(%s) AND status = ANY(%s)", (backlog, held))
            if rows[0][0] == 0:
                break
            time.sleep(0.2)
        self.faults.append({"fault": name, "drain_s": time.time() - recovered_at, "backlog": len(backlog)})

    def kill_worker(self, index: int):
        def fault():
            self.stack.workers[index].kill()  # SIGKILL with the scheduler it forked, as a crash
            time.sleep(1.0)
            self.stack.workers[index].start()
            self._drain_after(f"worker {index + 1} SIGKILL", time.time())
        return fault

    def restart_redis(self):
        def fault():
            down = time.time()
            self.stack.redis.kill()
            time.sleep(2.0)
            self.stack.redis.start()
            self.redis_lost = (down, time.time())
            self._drain_after("Redis killed and restarted", time.time())
        return fault

    def refuse_database(self):
        def fault():
            self.stack.database.refuse_connections()
            time.sleep(self.profile["db_outage"])
            self.stack.database.accept_connections()
            self._drain_after(f"database refusing connections {self.profile['db_outage']}s", time.time())
        return fault


def payment_events(payment, rng: random.Random) -> tuple[list[dict], dict]:
    """Events for one payment, and the state they imply."""
    from payflow.webhooks import simulate

    events = [simulate.event_for("payment_intent.succeeded", payment=payment)]
    roll = rng.random()
    if roll < 0.15:
        events.append(simulate.event_for("payment_intent.processing", payment=payment))
    elif roll < 0.35:
        events.append(simulate.event_for("payment_intent.payment_failed", payment=payment, message="Card declined late"))
    refunded, disputed = 0, False
    roll = rng.random()
    if roll < 0.2:
        refunded = rng.randint(1, payment.amount)
        events.append(simulate.event_for("charge.refunded", payment=payment, amount=refunded))
        if rng.random() < 0.4:
            refunded = rng.randint(refunded, payment.amount)
            events.append(simulate.event_for("charge.refunded", payment=payment, amount=refunded))
    elif roll < 0.27:
        disputed = True
        events.append(simulate.event_for("charge.dispute.created", payment=payment))
        events.append(simulate.event_for("charge.dispute.closed", payment=payment, outcome="won"))
    status = "HELD" if refunded == 0 else ("REFUNDED" if refunded == payment.amount else "PARTIALLY_REFUNDED")
    return events, {"status": status, "refunded": refunded, "disputed": disputed}


def payout_events(payout, rng: random.Random) -> tuple[list[dict], str, bool]:
    """Events for one payout, the status they imply, and whether it was ever paid."""
    from payflow.webhooks import simulate

    roll = rng.random()
    if roll < 0.55:
        return [simulate.event_for("payout.updated", payout=payout), simulate.event_for("payout.paid", payout=payout)], \
            "COMPLETED", True
    if roll < 0.75:
        return [simulate.event_for("payout.updated", payout=payout), simulate.event_for("payout.failed", payout=payout)], \
            "FAILED", False
    if roll < 0.9:
        return [simulate.event_for("payout.paid", payout=payout), simulate.event_for("payout.failed", payout=payout)], \
            "FAILED", None  # paid first or failed first: either way the money comes back once
    return [simulate.event_for("payout.canceled", payout=payout)], "CANCELED", False


def with_repeats(events: list[dict], rng: random.Random) -> list[dict]:
    deliveries = []
    for event in events:
        copies = rng.choice((2, 3)) if rng.random() < 1 / 3 else 1
        deliveries.extend([event] * copies)
    rng.shuffle(deliveries)
    return deliveries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logs", default="/tmp")
    args = parser.parse_args()
    profile = PROFILES["short" if args.short else "full"]
    rng = random.Random(args.seed)
    env = {
        "PAYFLOW_ENV": "production", "STRIPE_SECRET_KEY": "sk_test_soak", "STRIPE_WEBHOOK_SECRET": SECRET,
        "JWT_SECRET_KEY": "soak-" + "s" * 40, "JWT_ACCESS_TOKEN_EXPIRES_SECONDS": "86400", "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "", "SSE_HEARTBEAT_SECONDS": "5", "WEBHOOK_SWEEP_INTERVAL_SECONDS": "1",
        "WEBHOOK_SWEEP_GRACE_SECONDS": "5", "WEBHOOK_RETRY_INTERVALS": "1,2,3,5,8,13,21", "WEB_CONCURRENCY": "1",
    }
    began = time.time()
    # Two web processes and two workers, on a database, a Redis and an offline Stripe of their own.
    stack = Stack({**os.environ, **env}, webs=2, workers=2, logs=Path(args.logs), name="soak")
    fleet = None
    try:
        run = Run(stack, profile, rng)
        fleet, report = soak(run, profile, rng)
    finally:
        if fleet is not None:
            fleet.stop()
        stack.stop()
    report["total_s"] = time.time() - began
    failed = print_report(report, profile, args.short)
    path = write_result("soak-short" if args.short else "soak", {
        "passed": not failed, "profile": profile, "seed": args.seed, **report,
        "checks": {name: {"passed": ok, "detail": detail} for name, (ok, detail) in report["checks"].items()},
    })
    print(f"\nresult: {path.relative_to(path.parents[2])}")
    return failed


def soak(run: Run, profile: dict, rng: random.Random):
    # People, payments and live clients.
    tokens, roles = {}, {}
    for role, count in (("company", profile["companies"]), ("influencer", profile["influencers"])):
        for number in range(count):
            answer = run.api("POST", "/auth/register", json={
                "email": f"{role}{number}@soak.test", "password": "soak-password", "role": role, "name": f"{role} {number}"})
            user = answer.json()["user"]
            tokens[user["id"]], roles[user["id"]] = answer.json()["access_token"], role
    companies = [u for u, r in roles.items() if r == "company"]
    influencers = [u for u, r in roles.items() if r == "influencer"]
    payments = []
    for number in range(profile["payments"]):
        company, influencer = rng.choice(companies), rng.choice(influencers)
        answer = run.api("POST", "/payments", tokens[company], json={
            "influencerId": influencer, "amount": rng.randint(500, 50000), "currency": "eur", "description": "Soak"})
        body = answer.json()
        payments.append(SimpleNamespace(id=body["id"], amount=body["amount"], currency="eur", company_id=company,
                                        influencer_id=influencer, stripe_payment_intent_id=body["stripePaymentIntentId"]))
    users = list(roles)
    clients = [SoakClient(users[i % len(users)], tokens[users[i % len(users)]], run.ports[i % 2])
               for i in range(profile["clients"])]
    fleet = ClientFleet(clients)
    if not fleet.wait_connected(60):
        run.problems.append("not every SSE client could connect")

    # Phase 1: payment events, with a worker killed, Redis restarted and the database away.
    expected_payments, deliveries = {}, []
    for payment in payments:
        events, expected = payment_events(payment, rng)
        expected_payments[payment.id] = expected
        deliveries.extend(events)
    succeeded_event = {e["data"]["object"]["metadata"]["payment_id"]: e["id"]
                       for e in deliveries if e["type"] == "payment_intent.succeeded"}
    distinct_payment_events = len(deliveries)
    deliveries = with_repeats(deliveries, rng)
    phase1 = run.deliver(deliveries, [(0.2, run.kill_worker(0)), (0.45, run.restart_redis()),
                                      (0.7, run.refuse_database())], profile["phase_seconds"])
    drain1 = run.wait_drained(180)

    # Phase 2: releases, payouts and payout events, with the other worker killed.
    released = set()
    for payment in payments:
        expected = expected_payments[payment.id]
        if expected["status"] == "HELD" and not expected["disputed"] and rng.random() < 0.6:
            answer = run.api("POST", f"/payments/{payment.id}/release", tokens[payment.company_id])
            if answer.status_code == 200:
                released.add(payment.id)
                expected["status"] = "RELEASED"
            else:
                run.problems.append(f"release of {payment.id} answered {answer.status_code}: {answer.text[:120]}")
    payouts, expected_payouts = [], {}
    for influencer in influencers:
        wallets = run.api("GET", "/wallet", tokens[influencer]).json()["wallets"]
        available = next((w["availableBalance"] for w in wallets if w["currency"] == "eur"), 0)
        for _ in range(2):
            amount = available // 3
            if amount < 100:  # Stripe pays out at least one euro (payflow.payout_rules)
                break
            answer = run.api("POST", "/payouts", tokens[influencer], json={"amount": amount, "currency": "eur"})
            if answer.status_code != 201:
                run.problems.append(f"payout request answered {answer.status_code}: {answer.text[:120]}")
                continue
            body = answer.json()
            available -= amount
            payouts.append(SimpleNamespace(id=body["id"], amount=amount, currency="eur",
                                           stripe_payout_id=body["stripePayoutId"], influencer_id=influencer))
    payout_deliveries = []
    for payout in payouts:
        events, status, _ = payout_events(payout, rng)
        expected_payouts[payout.id] = status
        payout_deliveries.extend(events)
    distinct_payout_events = len(payout_deliveries)
    payout_deliveries = with_repeats(payout_deliveries, rng)
    phase2 = run.deliver(payout_deliveries, [(0.5, run.kill_worker(1))], profile["phase_seconds"] / 2)
    drain2 = run.wait_drained(180)
    time.sleep(3)  # the last live updates on their way to the clients

    report = {
        "events": distinct_payment_events + distinct_payout_events,
        "deliveries": len(deliveries) + len(payout_deliveries), "redelivered": run.redelivered,
        "payments": len(payments), "payouts": len(payouts), "clients": len(clients),
        "events_per_s": sum(run.answers.values()) / (run.posting_seconds / profile["senders"]),
        "offered_per_s": (len(deliveries) + len(payout_deliveries)) / (phase1 + phase2),
        "phases_s": (phase1, phase2),
        "webhook_p50_ms": percentile(run.webhook_latencies, 0.5) * 1000,
        "webhook_p99_ms": percentile(run.webhook_latencies, 0.99) * 1000,
        "answers": dict(sorted(run.answers.items())), "faults": run.faults, "drain_end_s": (drain1, drain2),
    }
    checks = verify(run, payments, expected_payments, released, payouts, expected_payouts, influencers, tokens, clients)
    report["checks"] = checks
    report["problems"] = run.problems
    report.update(client_latency(run, clients, payments, succeeded_event))
    return fleet, report


def verify(run, payments, expected_payments, released, payouts, expected_payouts, influencers, tokens, clients) -> dict:
    checks = {}
    rows = dict(run.sql("SELECT id, status FROM payments"))
    refunded = dict(run.sql("SELECT id, refunded_amount FROM payments"))
    wrong = [(p.id, rows.get(p.id), expected_payments[p.id]["status"]) for p in payments
             if rows.get(p.id) != expected_payments[p.id]["status"]
             or refunded.get(p.id) != expected_payments[p.id]["refunded"]]
    checks["every payment in the state its events imply"] = (not wrong, wrong[:5])
    rows = dict(run.sql("SELECT id, status FROM payouts"))
    wrong = [(p.id, rows.get(p.id), expected_payouts[p.id]) for p in payouts if rows.get(p.id) != expected_payouts[p.id]]
    checks["every payout in the state its events imply"] = (not wrong, wrong[:5])
    stuck = run.sql("SELECT id, type, status, last_error FROM webhook_events WHERE status IN ('dead', 'flagged')")
    checks["no event dead-lettered or flagged"] = (not stuck, stuck[:5])

    kinds = run.sql("SELECT payment_id, kind, count(*) FROM ledger_transactions WHERE payment_id IS NOT NULL "
                    "GROUP BY payment_id, kind")
    counts = {(pid, kind): n for pid, kind, n in kinds}
    doubled = [(pid, kind, n) for (pid, kind), n in counts.items() if kind in ("capture", "release") and n != 1]
    missing = [p.id for p in payments if counts.get((p.id, "capture")) != 1
               or (p.id in released) != ((p.id, "release") in counts)]
    refund_sums = dict(run.sql(
        "SELECT t.payment_id, -sum(e.amount) FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
        "JOIN ledger_accounts a ON a.id = e.account_id WHERE t.kind IN ('refund', 'clawback') "
        "AND a.purpose = 'stripe_balance' GROUP BY t.payment_id"))
    refund_wrong = [p.id for p in payments if int(refund_sums.get(p.id, 0)) != expected_payments[p.id]["refunded"]]
    payout_kinds = {(pid, kind): n for pid, kind, n in run.sql(
        "SELECT payout_id, kind, count(*) FROM ledger_transactions WHERE payout_id IS NOT NULL GROUP BY payout_id, kind")}
    payout_wrong = [p.id for p in payouts if payout_kinds.get((p.id, "payout")) != 1
                    or payout_kinds.get((p.id, "payout_paid"), 0) > 1
                    or payout_kinds.get((p.id, "payout_returned"), 0) != (expected_payouts[p.id] in ("FAILED", "CANCELED"))]
    checks["every money move applied exactly once"] = (not (doubled or missing or refund_wrong or payout_wrong),
                                                       (doubled[:3], missing[:3], refund_wrong[:3], payout_wrong[:3]))

    unbalanced = run.sql("SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount) <> 0")
    per_currency = run.sql("SELECT a.currency, sum(e.amount) FROM ledger_entries e JOIN ledger_accounts a "
                           "ON a.id = e.account_id GROUP BY a.currency HAVING sum(e.amount) <> 0")
    checks["ledger balanced (every transaction, every currency)"] = (not unbalanced and not per_currency,
                                                                    (unbalanced[:3], per_currency))

    sums = {(user, purpose): int(total) * (1 if normal == "debit" else -1) for user, purpose, normal, total in run.sql(
        "SELECT a.user_id, a.purpose, a.normal, coalesce(sum(e.amount), 0) FROM ledger_accounts a LEFT JOIN "
        "ledger_entries e ON e.account_id = a.id WHERE a.user_id IS NOT NULL AND a.currency = 'eur' "
        "GROUP BY a.user_id, a.purpose, a.normal")}
    mismatched = []
    for influencer in influencers:
        wallets = run.api("GET", "/wallet", tokens[influencer]).json()["wallets"]
        wallet = next((w for w in wallets if w["currency"] == "eur"), None)
        if wallet is None:
            continue
        want = (sums.get((influencer, "wallet"), 0), sums.get((influencer, "escrow"), 0),
                sums.get((influencer, "receivable"), 0))
        got = (wallet["availableBalance"], wallet["pendingBalance"], wallet["receivableBalance"])
        if want != got or got[0] < 0:
            mismatched.append((influencer, want, got))
    checks["every wallet equals its ledger entries, none negative"] = (not mismatched, mismatched[:3])

    server_errors = {status: n for status, n in run.answers.items() if status >= 500 and status != 503}
    checks["no 500 answered"] = (not server_errors and not [p for p in run.problems if "answered 5" in p],
                                 server_errors)
    checks["every client got every update addressed to it"] = client_completeness(run, clients, tokens)
    return checks


def client_completeness(run: Run, clients: list[SoakClient], tokens: dict):
    notes = run.sql("SELECT user_id, coalesce(payment_id, payout_id), message, extract(epoch FROM created_at) "
                    "FROM notifications ORDER BY created_at")
    lost_from, lost_to = run.redis_lost or (0, 0)
    missing, bad_resync, refused = [], [], []
    for client in clients:
        refused.extend(client.refused)
        got: dict[tuple, int] = {}
        for event, data, _ in client.updates:
            key = (data.get("paymentId") or data.get("payoutId"), data.get("message"))
            got[key] = got.get(key, 0) + 1
        for user_id, object_id, message, created in notes:
            if user_id != client.user_id or created < (client.first_open or 0):
                continue
            key = (object_id, message)
            if got.get(key, 0) > 0:
                got[key] -= 1
                continue
            # A resync after the loss stands for everything before it: the client refetches its state.
            history_lost = created >= lost_from - 5 and any(t >= lost_from and t >= created for t in client.resyncs)
            if not history_lost:
                missing.append((client.user_id, object_id, message))
        if any(t < lost_from or t > lost_to + 60 for t in client.resyncs):
            bad_resync.append(client.user_id)
        if client.resyncs:  # the client refetches: its state must be the database's
            listed = run.api("GET", "/payments?limit=100", tokens[client.user_id]).json()["items"]
            truth = dict(run.sql("SELECT id, status FROM payments"))
            if any(truth.get(item["id"]) != item["status"] for item in listed):
                bad_resync.append(client.user_id)
    ok = not missing and not bad_resync and not refused
    return ok, {"missing": missing[:5], "missing_count": len(missing), "unexcused_resync": bad_resync[:5],
                "refused": refused[:3]}


def client_latency(run: Run, clients, payments, succeeded_event) -> dict:
    latencies = []
    for client in clients:
        for event, data, received in client.updates:
            if event == "payment:update" and data.get("status") == "HELD":
                sent = run.first_sent.get(succeeded_event.get(data.get("paymentId")))
                if sent:
                    latencies.append(received - sent)
    return {"client_p50_ms": percentile(latencies, 0.5) * 1000, "client_p99_ms": percentile(latencies, 0.99) * 1000,
            "client_deliveries": len(latencies), "resyncs": sum(len(c.resyncs) for c in clients),
            "reconnects": sum(max(0, c.connections - 1) for c in clients)}


def print_report(report: dict, profile: dict, short: bool) -> int:
    print(f"machine: {machine()}")
    print(f"soak ({'short' if short else 'full'}): {report['payments']} payments, {report['payouts']} payouts, "
          f"{report['events']} distinct events in {report['deliveries']} deliveries "
          f"(+{report['redelivered']} redelivered after 503), {report['clients']} SSE clients, "
          f"{report['total_s']:.0f}s in all")
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| deliveries per second offered (paced, with faults) / capacity (over the senders' busy time) | "
          f"{report['offered_per_s']:.0f} / {report['events_per_s']:.0f} |")
    print(f"| webhook answer p50 / p99 | {report['webhook_p50_ms']:.1f} / {report['webhook_p99_ms']:.1f} ms |")
    print(f"| webhook to client p50 / p99 | {report['client_p50_ms']:.0f} / {report['client_p99_ms']:.0f} ms "
          f"({report['client_deliveries']} deliveries) |")
    print(f"| client reconnects / resyncs | {report['reconnects']} / {report['resyncs']} |")
    print(f"| answers | {report['answers']} |")
    for fault in report["faults"]:
        print(f"| drain after {fault['fault']} | {fault['drain_s']:.1f} s ({fault['backlog']} events waiting) |")
    print()
    failed = 0
    for name, (ok, detail) in report["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + ("" if ok else f"  {json.dumps(detail, default=str)[:600]}"))
        failed += not ok
    for problem in report["problems"]:
        print(f"PROBLEM  {problem[:300]}")
    return 1 if failed or report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
