"""``flask --app wsgi ...`` commands: users, demo data and the RQ worker."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from . import accounts
from .errors import Conflict

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for the dashboard.")

DEMO_PASSWORD = "payflow-demo"
DEMO_USERS = (
    ("company@demo.payflow.dev", "company", "Acme Studios"),
    ("influencer@demo.payflow.dev", "influencer", "Riley Creator"),
)


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True)
@click.option("--name", default=None, help="Display name (defaults to the email's local part).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(email, role, name, password):
    """Create a user with ROLE (company, influencer or admin)."""
    if len(password) < 8:
        raise click.BadParameter("at least 8 characters", param_hint="--password")
    try:
        user = accounts.register(email, password, role, name or email.split("@")[0])
    except Conflict as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created {user.role} {user.email} ({user.id})")


@demo_cli.command("seed")
def seed():
    """Create the demo company and influencer (password: payflow-demo); safe to run again."""
    for email, role, name in DEMO_USERS:
        user = accounts.find_by_email(email)
        if user is None:
            user = accounts.register(email, DEMO_PASSWORD, role, name)
            click.echo(f"created {role} {email} / {DEMO_PASSWORD} ({user.id})")
        else:
            click.echo(f"exists  {role} {email} ({user.id})")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
def worker_command(burst):
    """Run an RQ worker (with its scheduler) on payflow's queues."""
    from jobs.worker import run_worker

    run_worker(burst=burst)


webhooks_cli = AppGroup("webhooks", help="Inspect, replay and simulate Stripe webhook events.")


def _status_choices() -> list[str]:
    from .webhooks import lifecycle

    return ["failed", *(status.value for status in lifecycle.Status), "all"]


@webhooks_cli.command("list")
@click.option("--status", type=click.Choice(_status_choices()), default="all",
              help="'failed' lists dead, flagged and retrying events; 'flagged' the events held for an operator.")
@click.option("--limit", default=50, show_default=True)
def list_events(status, limit):
    """Recorded events, newest first; a flagged one with its reason class and what happened."""
    from sqlalchemy import select

    from .extensions import db
    from .models import WebhookEvent
    from .webhooks import lifecycle

    query = select(WebhookEvent).order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(limit)
    if status == "failed":
        query = query.where(WebhookEvent.status.in_((lifecycle.DEAD, lifecycle.FLAGGED, lifecycle.RETRYING)))
    elif status != "all":
        query = query.where(WebhookEvent.status == status)
    for event in db.session.scalars(query):
        line = (f"{event.id}  {event.type:32} {event.status:9} attempts={event.attempts}  "
                f"{event.received_at.isoformat()}")
        if event.status == lifecycle.FLAGGED:
            line += f"  reason={event.flag_reason} applied={'yes' if event.applied else 'no'}  {event.outcome}"
        elif event.last_error:
            line += f"  {event.last_error}"
        click.echo(line)


@webhooks_cli.command("replay")
@click.argument("event_id")
def replay_event(event_id):
    """Queue EVENT_ID again with a fresh set of attempts."""
    from .webhooks import inbox

    event, queued = inbox.replay(event_id)
    if event is None:
        raise click.ClickException(f"no recorded event {event_id}")
    if queued:
        click.echo(f"{event_id}: queued")
    elif event.status == "processed":
        click.echo(f"{event_id}: already processed")
    else:
        click.echo(f"{event_id}: {event.status} and applied; nothing left to replay")


@webhooks_cli.command("sweep")
def sweep_events():
    """Queue recorded events that never reached the queue (or were lost from it)."""
    from .webhooks import inbox

    click.echo(f"queued {inbox.sweep()} events")


@webhooks_cli.command("prune")
@click.option("--days", type=int, default=None, help="Retention in days (at least 30).")
def prune_events(days):
    """Delete processed and ignored events older than the retention."""
    from .webhooks import inbox

    click.echo(f"deleted {inbox.prune(days)} events")


@webhooks_cli.command("reconcile")
@click.option("--since", "since", required=True, help="How far back to look: 30m, 6h, 3d.")
def reconcile_events(since):
    """Fetch events from Stripe's Events API that never arrived, and process them."""
    from .webhooks import reconcile

    try:
        seconds = reconcile.parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    seen, recorded = reconcile.reconcile(seconds)
    click.echo(f"{seen} events from Stripe, {recorded} were missing and are now queued")


@webhooks_cli.command("simulate")
@click.argument("event_type")
@click.option("--payment", "payment_id", help="Payment the event is about.")
@click.option("--payout", "payout_id", help="Payout the event is about.")
@click.option("--amount", type=int, help="charge.refunded: cumulative amount refunded; disputes: disputed amount.")
@click.option("--message", help="Failure message for payment_intent.payment_failed or payout.failed.")
@click.option("--outcome", type=click.Choice(["won", "lost"]), help="charge.dispute.closed: won or lost.")
@click.option("--url", default=None, help="Webhook URL (default: this app on $PORT).")
def simulate_event(event_type, payment_id, payout_id, amount, message, outcome, url):
    """Build a realistic, signed Stripe event for a payment or payout and post it."""
    import requests
    from flask import current_app

    from .extensions import db
    from .models import Payment, Payout
    from .webhooks import simulate

    if bool(payment_id) == bool(payout_id):
        raise click.UsageError("give exactly one of --payment and --payout")
    secrets = current_app.config["STRIPE_WEBHOOK_SECRETS"]
    if not secrets:
        raise click.ClickException("STRIPE_WEBHOOK_SECRET is not set: there is nothing to sign with")
    payment = db.session.get(Payment, payment_id) if payment_id else None
    payout = db.session.get(Payout, payout_id) if payout_id else None
    if payment is None and payout is None:
        raise click.ClickException(f"no {'payment ' + payment_id if payment_id else 'payout ' + payout_id}")
    try:
        event = simulate.event_for(event_type, payment=payment, payout=payout, amount=amount, message=message,
                                   outcome=outcome)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EVENT_TYPE") from exc
    body, headers = simulate.signed(event, secrets[0])
    db.session.rollback()  # hold no transaction (nor SQLite's write lock) while the app handles the post
    port = current_app.config["PORT"]
    url = url or f"http://127.0.0.1:{port}/payments/webhook"
    try:
        response = requests.post(url, data=body, headers=headers, timeout=10)
    except requests.ConnectionError as exc:
        raise click.ClickException(
            f"nothing answers at {url}: is payflow running there? The address comes from PORT ({port}, from the "
            f"environment or .env); give the one payflow runs on with --url http://127.0.0.1:<port>/payments/webhook"
        ) from exc
    click.echo(f"{event['id']} {event_type} -> {response.status_code} {response.text.strip()}")
    if response.status_code >= 300:
        raise SystemExit(1)


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(webhooks_cli)
