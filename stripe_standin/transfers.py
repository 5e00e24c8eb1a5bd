"""Transfers to connected accounts and their reversals (https://docs.stripe.com/api/transfers).

Rules, as Stripe's:
- the destination must have the ``transfers`` capability active, or the transfer is refused
  (``insufficient_capabilities_for_transfer``);
- with ``source_transaction`` the transfer is paid from that charge: it must be a succeeded
  charge in the same currency, and all transfers from it together cannot exceed its amount;
- a reversal takes back at most what is not reversed yet, and only what the connected account
  still has available in that currency: "It is possible to reverse a transfer_group transfer only
  if the destination account has enough balance to cover the reversal"
  (https://docs.stripe.com/api/transfer_reversals); refused with ``balance_insufficient``.
The platform's own balance is not modelled: a transfer without ``source_transaction`` is never
refused for lack of funds.
"""
from __future__ import annotations

import copy
import time

from aiohttp import web

from . import accounts, balances, listing, localstripe_bridge
from .context import runtime
from .errors import StripeError, resource_missing
from .events import previous_attributes
from .ids import new_id
from .params import Params, from_request, merge_metadata
from .responses import json_response, list_object
from .runtime import Runtime


def get(rt: Runtime, transfer_id: str) -> dict:
    transfer = rt.state.transfers.get(transfer_id)
    if transfer is None:
        raise resource_missing("transfer", transfer_id)
    return transfer


def _source_charge(rt: Runtime, charge_id: str, amount: int, currency: str):
    charge = localstripe_bridge.store.get(f"charge:{charge_id}")
    if charge is None:
        raise resource_missing("charge", charge_id, "source_transaction")
    if charge.status != "succeeded" or not charge.captured:
        raise StripeError(400, f"The source_transaction {charge_id} has not succeeded: only a succeeded, captured "
                               "charge can fund a transfer.", param="source_transaction")
    if charge.currency != currency:
        raise StripeError(400, f"The currency of source_transaction's balance transaction ({charge.currency}) must "
                               f"be the same as the transfer currency ({currency}).", param="currency")
    transferred = sum(t["amount"] - t["amount_reversed"] for t in rt.state.transfers.values()
                      if t["source_transaction"] == charge_id)
    if transferred + amount > charge.amount:
        raise StripeError(400, f"Insufficient funds in the source_transaction {charge_id}: {charge.amount - transferred} "
                               f"{currency} can still be transferred from it, {amount} was requested.",
                          code="balance_insufficient", param="amount")
    return charge


def create(rt: Runtime, params: Params) -> dict:
    """``POST /v1/transfers`` (amount, currency, destination, transfer_group, source_transaction, description,
    metadata): the amount moves to the account's available balance at once; ``transfer.created`` is sent."""
    amount = params.amount()
    currency = params.currency()
    destination_id = params.string("destination", required=True)
    transfer_group = params.string("transfer_group")
    source_transaction = params.string("source_transaction")
    description = params.string("description")
    metadata = merge_metadata({}, params.metadata())
    params.string("source_type", choices=("bank_account", "card", "fpx"))
    params.no_expand()
    params.done()
    destination = accounts.get(rt, destination_id, param="destination")
    if not accounts.can_receive_transfers(destination):
        raise StripeError(400, "Your destination account needs to have at least one of the following capabilities "
                               "enabled: transfers, crypto_transfers, legacy_payments",
                          code="insufficient_capabilities_for_transfer", param="destination")
    if source_transaction:
        _source_charge(rt, source_transaction, amount, currency)
    transfer_id = new_id("tr_")
    destination_payment = new_id("py_")
    balances.move(rt.state, destination_id, currency, amount, "payment", destination_payment)
    transfer = {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": new_id("txn_"),
        "created": int(time.time()),
        "currency": currency,
        "description": description,
        "destination": destination_id,
        "destination_payment": destination_payment,
        "livemode": False,
        "metadata": metadata,
        "reversals": list_object(f"/v1/transfers/{transfer_id}/reversals", [], False) | {"total_count": 0},
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }
    rt.state.transfers[transfer_id] = transfer
    rt.emit("transfer.created", transfer)
    return transfer


def reverse(rt: Runtime, transfer_id: str, params: Params) -> dict:
    """``POST /v1/transfers/{id}/reversals`` (amount, default all that is left; description, metadata;
    refund_application_fee accepted, no fees are modelled). Sends ``transfer.reversed``."""
    transfer = get(rt, transfer_id)
    amount = params.amount(required=False)
    description = params.string("description")
    metadata = merge_metadata({}, params.metadata())
    params.boolean("refund_application_fee")
    params.no_expand()
    params.done()
    left = transfer["amount"] - transfer["amount_reversed"]
    if left == 0:
        raise StripeError(400, f"Transfer {transfer_id} has already been fully reversed.",
                          code="transfer_already_reversed")
    amount = left if amount is None else amount
    if amount > left:
        raise StripeError(400, f"Amount ({amount}) is greater than the amount of the transfer that is not reversed "
                               f"yet ({left}).", code="amount_too_large", param="amount")
    account, currency = transfer["destination"], transfer["currency"]
    on_account = balances.available(rt.state, account, currency)
    if amount > on_account:
        raise StripeError(400, f"Insufficient funds in the destination account {account} to reverse this transfer: "
                               f"{on_account} {currency} is available, the reversal needs {amount}.",
                          code="balance_insufficient", param="amount")
    reversal_id = new_id("trr_")
    refund_on_account = new_id("pyr_")
    balances.move(rt.state, account, currency, -amount, "payment_refund", refund_on_account)
    reversal = {
        "id": reversal_id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "created": int(time.time()),
        "currency": currency,
        "description": description,
        "destination_payment_refund": refund_on_account,
        "metadata": metadata,
        "source_refund": None,
        "transfer": transfer_id,
    }
    before = copy.deepcopy(transfer)
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    transfer["reversals"]["total_count"] += 1
    rt.emit("transfer.reversed", transfer, previous=previous_attributes(before, transfer))
    return reversal


def update(rt: Runtime, transfer_id: str, params: Params) -> dict:
    """``POST /v1/transfers/{id}``: description and metadata; sends ``transfer.updated`` when they change."""
    transfer = get(rt, transfer_id)
    description = params.string("description")
    metadata = params.metadata()
    params.no_expand()
    params.done()
    before = copy.deepcopy(transfer)
    if description is not None:
        transfer["description"] = description
    transfer["metadata"] = merge_metadata(transfer["metadata"], metadata)
    previous = previous_attributes(before, transfer)
    if previous:
        rt.emit("transfer.updated", transfer, previous=previous)
    return transfer


# --- routes --------------------------------------------------------------------------


async def create_route(request: web.Request) -> web.Response:
    return json_response(create(runtime(request), await from_request(request)))


async def retrieve_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    params.no_expand()
    params.done()
    return json_response(get(runtime(request), request.match_info["id"]))


async def update_route(request: web.Request) -> web.Response:
    return json_response(update(runtime(request), request.match_info["id"], await from_request(request)))


async def list_route(request: web.Request) -> web.Response:
    """``GET /v1/transfers`` (destination, transfer_group, limit, starting_after), newest first."""
    params = await from_request(request)
    destination = params.string("destination")
    transfer_group = params.string("transfer_group")
    listed = [t for t in reversed(runtime(request).state.transfers.values())
              if destination in (None, t["destination"]) and transfer_group in (None, t["transfer_group"])]
    return json_response(listing.page("/v1/transfers", "transfer", listed, params))


async def reverse_route(request: web.Request) -> web.Response:
    return json_response(reverse(runtime(request), request.match_info["id"], await from_request(request)))


async def list_reversals_route(request: web.Request) -> web.Response:
    params = await from_request(request)
    transfer = get(runtime(request), request.match_info["id"])
    return json_response(listing.page(transfer["reversals"]["url"], "transfer_reversal", transfer["reversals"]["data"],
                                      params))


async def retrieve_reversal_route(request: web.Request) -> web.Response:
    transfer = get(runtime(request), request.match_info["id"])
    for reversal in transfer["reversals"]["data"]:
        if reversal["id"] == request.match_info["reversal"]:
            return json_response(reversal)
    raise resource_missing("transfer_reversal", request.match_info["reversal"])
