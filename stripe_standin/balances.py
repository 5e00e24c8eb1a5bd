"""Connected accounts' balances: what transfers brought in, less what reversals and payouts took.

Each movement is kept (amount in minor units, signed: + in, - out) with the Stripe balance
transaction type it would have on the account (https://docs.stripe.com/api/balance_transactions
``type``): ``payment`` for a transfer received, ``payment_refund`` for a reversal, ``payout``,
``payout_failure`` and ``payout_cancel``. Everything is available at once: the stand-in has no
pending balance and no settlement delay.
"""
from __future__ import annotations

from aiohttp import web

from . import accounts
from .context import connected_account, runtime
from .ids import new_id
from .params import from_request
from .responses import json_response
from .state import State


def move(state: State, account: str, currency: str, amount: int, type: str, source: str) -> str:
    """Record a movement; returns its balance transaction id (``txn_...``)."""
    transaction_id = new_id("txn_")
    state.balances.setdefault(account, []).append(
        {"id": transaction_id, "amount": amount, "currency": currency, "type": type, "source": source}
    )
    return transaction_id


def available(state: State, account: str, currency: str) -> int:
    return sum(m["amount"] for m in state.balances.get(account, []) if m["currency"] == currency)


def balance(state: State, account: dict) -> dict:
    """The Balance object of a connected account (``GET /v1/balance`` with ``Stripe-Account``)."""
    currencies = [account["default_currency"]]
    for movement in state.balances.get(account["id"], []):
        if movement["currency"] not in currencies:
            currencies.append(movement["currency"])
    return {
        "object": "balance",
        "available": [{"amount": available(state, account["id"], currency), "currency": currency,
                       "source_types": {"card": available(state, account["id"], currency)}}
                      for currency in currencies],
        "livemode": False,
        "pending": [{"amount": 0, "currency": currency, "source_types": {"card": 0}} for currency in currencies],
    }


async def retrieve_route(request: web.Request) -> web.Response:
    """``GET /v1/balance`` with ``Stripe-Account``."""
    params = await from_request(request)
    params.no_expand()
    params.done()
    rt = runtime(request)
    return json_response(balance(rt.state, accounts.get(rt, connected_account(request))))
