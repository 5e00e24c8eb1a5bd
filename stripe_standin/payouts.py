"""Payouts on connected accounts (``Stripe-Account: acct_...``), in any currency the account holds.

Life of a payout (https://docs.stripe.com/api/payouts/object ``status``): created ``pending``
(its amount leaves the account's available balance; ``payout.created``), then after
``--payout-delay`` seconds ``paid`` (``payout.paid``), or ``failed`` (``payout.failed``, the
amount back in the balance) when the account's bank has been set to fail payouts
(``POST /_config/accounts/{id}/payout_failure``). ``POST /v1/payouts/{id}/cancel`` cancels a
pending payout (``payout.canceled``, amount back). The ``/_config/payouts/{id}/...`` hooks move
a payout by hand: ``in_transit`` (``payout.updated``), ``pay``, and ``fail``, which also fails a
payout already paid, as a bank may return one days later (Stripe then sends ``payout.failed``
after ``payout.paid``). Every payout event is a Connect event (``account`` set).

Refused as Stripe refuses: payouts not enabled on the account (``payouts_not_allowed``), more
than the available balance (``balance_insufficient``), and in HUF and TWD an amount that is not
whole units (https://docs.stripe.com/currencies#special-cases: payouts in those currencies must
be evenly divisible by 100).
"""
from __future__ import annotations

import copy
import time

from aiohttp import web

from . import accounts, balances, listing
from .context import connected_account, runtime
from .errors import StripeError, parameter_invalid, resource_missing
from .events import previous_attributes
from .ids import new_id
from .params import Params, from_request, merge_metadata
from .responses import json_response
from .runtime import Runtime

WHOLE_UNITS_ONLY = ("huf", "twd")
# https://docs.stripe.com/api/payouts/failures
FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "bank_account_restricted": "The bank account has restrictions on either the type or number of payouts allowed.",
    "bank_ownership_changed": "The destination bank account is no longer valid because its branch has changed "
                              "ownership.",
    "could_not_process": "The bank could not process this payout.",
    "debit_not_authorized": "Debit transactions are not approved on the bank account.",
    "declined": "The bank has declined this transfer.",
    "incorrect_account_holder_name": "The bank notified us that the bank account holder name on file is incorrect.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The routing number seems correct, but the account number is invalid.",
    "invalid_currency": "The bank was unable to process this payout because of its currency.",
    "no_account": "The bank account details on file are probably incorrect. No bank account could be located "
                  "with those details.",
    "unsupported_card": "The bank no longer supports payouts to this card.",
}
DEFAULT_FAILURE = "could_not_process"
SETTLE = "payout.settle"


def _record(rt: Runtime, payout_id: str, account: str | None = None) -> dict:
    record = rt.state.payouts.get(payout_id)
    if record is None or (account is not None and record["account"] != account):
        raise resource_missing("payout", payout_id)
    return record


def failure_code(value: str | None) -> str:
    code = value or DEFAULT_FAILURE
    if code not in FAILURE_MESSAGES:
        raise parameter_invalid("failure_code", f"Invalid failure_code: must be one of {', '.join(FAILURE_MESSAGES)}")
    return code


def create(rt: Runtime, account_id: str, params: Params) -> dict:
    """``POST /v1/payouts`` on a connected account (amount, currency, description, metadata,
    statement_descriptor, method ``standard``)."""
    amount = params.amount()
    currency = params.currency()
    description = params.string("description")
    statement_descriptor = params.string("statement_descriptor", max_length=22)
    metadata = merge_metadata({}, params.metadata())
    method = params.string("method", choices=("standard", "instant")) or "standard"
    destination = params.string("destination")
    params.string("source_type", choices=("bank_account", "card", "fpx"))
    params.no_expand()
    params.done()
    account = accounts.get(rt, account_id)
    if not account["payouts_enabled"]:
        raise StripeError(400, "Payouts are not enabled on this account: it has requirements past due "
                               f"({', '.join(account['requirements']['past_due'])}).", code="payouts_not_allowed")
    if method == "instant":
        raise StripeError(400, "Instant payouts are not supported by the offline Stripe.",
                          code="instant_payouts_unsupported", param="method")
    if currency in WHOLE_UNITS_ONLY and amount % 100:
        raise StripeError(400, f"Payouts in {currency.upper()} must be whole units: the amount must be evenly "
                               f"divisible by 100 (for example {amount - amount % 100}).", param="amount")
    available = balances.available(rt.state, account_id, currency)
    if amount > available:
        raise StripeError(400, "You have insufficient funds in your Stripe account for this transfer. Your "
                               f"{currency} balance is too low ({available} available, {amount} requested). You can "
                               "use the /v1/balance endpoint to view your Stripe balance.",
                          code="balance_insufficient", param="amount")
    payout_id = new_id("po_")
    now = int(time.time())
    delay = rt.settings.payout_delay
    bank = account["external_accounts"]["data"][0]["id"] if account["external_accounts"]["data"] else new_id("ba_")
    payout = {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": now + int(delay or 0),
        "automatic": False,
        "balance_transaction": balances.move(rt.state, account_id, currency, -amount, "payout", payout_id),
        "created": now,
        "currency": currency,
        "description": description,
        "destination": destination or bank,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": metadata,
        "method": method,
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": statement_descriptor,
        "status": "pending",
        "type": "bank_account",
    }
    rt.state.payouts[payout_id] = {"account": account_id, "payout": payout}
    rt.emit("payout.created", payout, account=account_id)
    if delay is not None:
        rt.scheduler.at(time.time() + delay, SETTLE, payout_id)
    return payout


def settle(rt: Runtime, payout_id: str) -> None:
    """The bank's answer at the end of the delay: paid, or failed with the account's failure code."""
    record = rt.state.payouts.get(payout_id)
    if record is None or record["payout"]["status"] not in ("pending", "in_transit"):
        return  # canceled, or settled by hand meanwhile
    code = rt.state.payout_failures.get(record["account"])
    if code:
        fail(rt, payout_id, code)
    else:
        pay(rt, payout_id)


def _move(rt: Runtime, record: dict, event_type: str, change) -> dict:
    payout = record["payout"]
    before = copy.deepcopy(payout)
    change(payout)
    rt.emit(event_type, payout, account=record["account"], previous=previous_attributes(before, payout))
    return payout


def _refuse(payout: dict, action: str) -> StripeError:
    return StripeError(400, f"Payout {payout['id']} is {payout['status']}: it cannot be {action}.")


def mark_in_transit(rt: Runtime, payout_id: str) -> dict:
    record = _record(rt, payout_id)
    if record["payout"]["status"] != "pending":
        raise _refuse(record["payout"], "put in transit")
    return _move(rt, record, "payout.updated", lambda p: p.update(status="in_transit"))


def pay(rt: Runtime, payout_id: str) -> dict:
    record = _record(rt, payout_id)
    if record["payout"]["status"] not in ("pending", "in_transit"):
        raise _refuse(record["payout"], "paid")
    return _move(rt, record, "payout.paid", lambda p: p.update(status="paid", arrival_date=int(time.time())))


def fail(rt: Runtime, payout_id: str, code: str | None = None) -> dict:
    """The bank returns the payout (also one already paid); its amount is back in the account's balance."""
    record = _record(rt, payout_id)
    payout = record["payout"]
    if payout["status"] not in ("pending", "in_transit", "paid"):
        raise _refuse(payout, "failed")
    code = failure_code(code)
    returned = balances.move(rt.state, record["account"], payout["currency"], payout["amount"], "payout_failure",
                             payout_id)
    return _move(rt, record, "payout.failed", lambda p: p.update(
        status="failed", failure_code=code, failure_message=FAILURE_MESSAGES[code],
        failure_balance_transaction=returned))


def cancel(rt: Runtime, account_id: str, payout_id: str) -> dict:
    """``POST /v1/payouts/{id}/cancel``: only a pending payout; its amount is back in the balance."""
    record = _record(rt, payout_id, account_id)
    payout = record["payout"]
    if payout["status"] != "pending":
        raise StripeError(400, f"Payout {payout_id} cannot be canceled: only pending payouts can be canceled, and it "
                               f"is {payout['status']}.")
    balances.move(rt.state, account_id, payout["currency"], payout["amount"], "payout_cancel", payout_id)
    return _move(rt, record, "payout.canceled", lambda p: p.update(status="canceled"))


# --- routes (connected accounts; the platform's own payouts stay localstripe's) -------


async def create_route(request: web.Request) -> web.Response:
    return json_response(create(runtime(request), connected_account(request), await from_request(request)))


async def retrieve_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    params.no_expand()
    params.done()
    return json_response(_record(runtime(request), request.match_info["id"], connected_account(request))["payout"])


async def list_route(request: web.Request) -> web.Response:
    """``GET /v1/payouts`` of the account (status, limit, starting_after), newest first."""
    params = await from_request(request)
    status = params.string("status", choices=("pending", "in_transit", "paid", "failed", "canceled"))
    account = connected_account(request)
    listed = [r["payout"] for r in reversed(runtime(request).state.payouts.values())
              if r["account"] == account and status in (None, r["payout"]["status"])]
    return json_response(listing.page("/v1/payouts", "payout", listed, params))


async def cancel_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    params.no_expand()
    params.done()
    return json_response(cancel(runtime(request), connected_account(request), request.match_info["id"]))


async def in_transit_route(request: web.Request) -> web.Response:
    return json_response(mark_in_transit(runtime(request), request.match_info["id"]))


async def pay_route(request: web.Request) -> web.Response:
    return json_response(pay(runtime(request), request.match_info["id"]))


async def fail_route(request: web.Request) -> web.Response:
    """``POST /_config/payouts/{id}/fail`` (failure_code, default ``could_not_process``)."""
    params = await from_request(request)
    code = params.string("failure_code")
    params.done()
    return json_response(fail(runtime(request), request.match_info["id"], code))


async def bank_failure_route(request: web.Request) -> web.Response:
    """``POST /_config/accounts/{id}/payout_failure`` (failure_code; empty: payouts succeed again)."""
    rt = runtime(request)
    account = accounts.get(rt, request.match_info["id"])
    params = await from_request(request)
    code = params.string("failure_code")
    params.done()
    if code:
        rt.state.payout_failures[account["id"]] = failure_code(code)
    else:
        rt.state.payout_failures.pop(account["id"], None)
    return json_response({"account": account["id"], "failure_code": rt.state.payout_failures.get(account["id"])})
