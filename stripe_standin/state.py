"""Everything the stand-in adds to localstripe's store, as plain Stripe-shaped dicts.

One ``State`` per process; the state file keeps it (with localstripe's store) across restarts.
Objects are stored in the shape the API answers with, so a handler renders a stored object as it
is; what Stripe never shows (a webhook endpoint's secret after creation, the account a payout
belongs to) is kept beside the object, never inside it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class State:
    # acct_... -> account object
    accounts: dict[str, dict] = field(default_factory=dict)
    # link token -> {"account", "type", "return_url", "refresh_url", "created", "expires_at", "visited", "used"}
    account_links: dict[str, dict] = field(default_factory=dict)
    # acct_... -> failure code that the account's bank gives every later payout (a failing test bank account)
    payout_failures: dict[str, str] = field(default_factory=dict)
    # acct_... -> balance movements, oldest first: {"id", "amount", "currency", "type", "source", "created"}
    balances: dict[str, list[dict]] = field(default_factory=dict)
    # tr_... -> transfer object, its reversals under ["reversals"]["data"], newest first
    transfers: dict[str, dict] = field(default_factory=dict)
    # po_... -> {"account": acct_..., "payout": payout object}; payouts on connected accounts only
    payouts: dict[str, dict] = field(default_factory=dict)
    # we_... -> {"endpoint": webhook endpoint object, "secret": whsec_..., "connect": bool}
    webhook_endpoints: dict[str, dict] = field(default_factory=dict)
    # localstripe-style registrations (POST /_config/webhooks/{id}): id -> {"url", "secret", "events"}
    config_webhooks: dict[str, dict] = field(default_factory=dict)
    # every event, oldest first (each a full event object; "account" only on Connect events)
    events: list[dict] = field(default_factory=list)
    # (api key, Stripe-Account, Idempotency-Key) -> saved answer (see idempotency.py)
    idempotency: dict[tuple, dict] = field(default_factory=dict)
    # job id -> {"due": unix seconds, "kind": ..., "target": object id}: timed changes (see scheduler.py)
    schedule: dict[str, dict] = field(default_factory=dict)

    def __setstate__(self, saved: dict) -> None:
        # A state file written before a field existed still loads, with that field empty.
        self.__init__()
        self.__dict__.update({f.name: saved[f.name] for f in fields(self) if f.name in saved})

    def clear_objects(self) -> None:
        """Forget every object and event; webhook endpoints and registrations (configuration) stay."""
        for name in ("accounts", "account_links", "payout_failures", "balances", "transfers", "payouts", "events",
                     "idempotency", "schedule"):
            getattr(self, name).clear()
