"""The stand-in's settings: command-line flags, each with an environment variable as its default."""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8420


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    # None: nothing is saved, every start is empty
    state_file: Path | None = None
    # ignore what the state file holds (it is then overwritten as the state changes)
    from_scratch: bool = False
    # seconds from a payout's creation to its outcome (paid, or failed on a failing bank account);
    # None: payouts stay pending until a /_config hook settles them
    payout_delay: float | None = 2.0
    # seconds between an event and its first delivery attempt (Stripe sends after answering)
    webhook_delay: float = 1.0
    # seconds before each new attempt at a delivery that failed
    webhook_retries: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
    # address browsers use to reach the stand-in (account links); None: the address the API call used
    public_url: str | None = None


def _seconds_or_manual(text: str) -> float | None:
    if text.strip().lower() in ("manual", "off", "never"):
        return None
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds, or 'manual'")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def _seconds_list(text: str) -> tuple[float, ...]:
    return tuple(_seconds(item) for item in text.split(",") if item.strip())


def parse(argv: list[str], environ: Mapping[str, str]) -> Settings:
    """Settings from ``argv`` (``python -m stripe_standin --port 8420 ...``) over ``STRIPE_STANDIN_*``."""
    default = Settings()
    env = environ.get
    parser = argparse.ArgumentParser(prog="python -m stripe_standin",
                                     description="An offline Stripe for development and tests, built on localstripe.")
    parser.add_argument("--host", default=env("STRIPE_STANDIN_HOST", default.host))
    parser.add_argument("--port", type=int, default=int(env("STRIPE_STANDIN_PORT", default.port)))
    parser.add_argument("--state-file", type=Path, default=env("STRIPE_STANDIN_STATE_FILE"),
                        help="keep every object and event in this file across restarts (default: keep nothing)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="start empty even if the state file holds something")
    parser.add_argument("--payout-delay", type=_seconds_or_manual, default=env("STRIPE_STANDIN_PAYOUT_DELAY", "2"),
                        help="seconds until a payout is paid (or fails); 'manual' waits for /_config hooks")
    parser.add_argument("--webhook-delay", type=_seconds, default=env("STRIPE_STANDIN_WEBHOOK_DELAY", "1"),
                        help="seconds between an event and its delivery")
    parser.add_argument("--webhook-retries", type=_seconds_list,
                        default=env("STRIPE_STANDIN_WEBHOOK_RETRIES", "5,30,120,600,1800"),
                        help="comma-separated seconds before each retry of a failed delivery")
    parser.add_argument("--public-url", default=env("STRIPE_STANDIN_PUBLIC_URL"),
                        help="address browsers reach the stand-in at, for account links")
    args = parser.parse_args(argv)
    # argparse applies type= to string defaults too
    return Settings(host=args.host, port=args.port, state_file=Path(args.state_file) if args.state_file else None,
                    from_scratch=args.from_scratch, payout_delay=args.payout_delay, webhook_delay=args.webhook_delay,
                    webhook_retries=args.webhook_retries, public_url=args.public_url)
