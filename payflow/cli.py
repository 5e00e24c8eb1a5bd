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


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(worker_command)
