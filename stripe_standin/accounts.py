"""Connected accounts (https://docs.stripe.com/api/accounts) and what onboarding changes on them.

A new account can do nothing yet: its capabilities are ``inactive``, ``details_submitted``,
``charges_enabled`` and ``payouts_enabled`` are false and its requirements are past due. Real
Stripe collects the details in its hosted onboarding; here onboarding completes in one step
(``complete_onboarding``, from the account link's page or ``POST /_config/accounts/{id}/onboard``):
every requested capability becomes ``active``, requirements are emptied, a test bank account in
the default currency is attached, and ``capability.updated`` and ``account.updated`` are sent as
Connect events. ``restrict`` does the opposite (new requirements past due), as Stripe does when
it needs more information.
"""
from __future__ import annotations

import copy
import re
import time

from aiohttp import web

from . import listing
from .context import runtime
from .errors import StripeError, parameter_invalid, resource_missing
from .events import previous_attributes
from .ids import new_id
from .params import Params, from_request, merge_metadata
from .responses import json_response, list_object
from .runtime import Runtime

TYPES = ("express", "standard", "custom")
BUSINESS_TYPES = ("individual", "company", "non_profit", "government_entity")
SCHEDULE_INTERVALS = ("manual", "daily", "weekly", "monthly")
# Default currency of accounts in the countries Stripe accounts can be in; others default to usd.
COUNTRY_CURRENCIES = {
    "AE": "aed", "AT": "eur", "AU": "aud", "BE": "eur", "BG": "bgn", "BR": "brl", "CA": "cad", "CH": "chf",
    "CY": "eur", "CZ": "czk", "DE": "eur", "DK": "dkk", "EE": "eur", "ES": "eur", "FI": "eur", "FR": "eur",
    "GB": "gbp", "GI": "gbp", "GR": "eur", "HK": "hkd", "HR": "eur", "HU": "huf", "IE": "eur", "IN": "inr",
    "IT": "eur", "JP": "jpy", "LI": "chf", "LT": "eur", "LU": "eur", "LV": "eur", "MT": "eur", "MX": "mxn",
    "MY": "myr", "NL": "eur", "NO": "nok", "NZ": "nzd", "PL": "pln", "PT": "eur", "RO": "ron", "SE": "sek",
    "SG": "sgd", "SI": "eur", "SK": "eur", "TH": "thb", "US": "usd",
}
# What a new account still has to provide (a representative subset of Stripe's list).
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc", "business_profile.url", "business_type", "external_account",
    "individual.dob.day", "individual.dob.month", "individual.dob.year", "individual.email",
    "individual.first_name", "individual.last_name", "individual.phone", "tos_acceptance.date", "tos_acceptance.ip",
]
RESTRICTED_REQUIREMENTS = ["individual.verification.document"]
CONTROLLERS = {
    "express": {"fees": {"payer": "application_express"}, "is_controller": True,
                "losses": {"payments": "application"}, "requirement_collection": "stripe",
                "stripe_dashboard": {"type": "express"}, "type": "application"},
    "custom": {"fees": {"payer": "application_custom"}, "is_controller": True,
               "losses": {"payments": "application"}, "requirement_collection": "application",
               "stripe_dashboard": {"type": "none"}, "type": "application"},
    "standard": {"is_controller": False, "type": "account"},
}


def _requirements(due: list[str]) -> dict:
    return {
        "alternatives": [], "current_deadline": None, "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None, "errors": [], "eventually_due": list(due),
        "past_due": list(due), "pending_verification": [],
    }


def _capabilities(params: Params, current: dict, status: str) -> dict:
    requested = params.mapping("capabilities")
    capabilities = dict(current)
    for name, options in (requested or {}).items():
        if not re.fullmatch(r"[a-z_]+", name) or not isinstance(options, dict):
            raise parameter_invalid(f"capabilities[{name}]", f"Invalid capabilities[{name}]: expected "
                                    f"capabilities[{name}][requested]=true")
        wanted = str(options.get("requested", "")).lower()
        if wanted not in ("true", "false") or set(options) - {"requested"}:
            raise parameter_invalid(f"capabilities[{name}][requested]",
                                    f"Invalid boolean: {options.get('requested')}", code="parameter_invalid_boolean")
        if wanted == "true":
            capabilities.setdefault(name, status)
        else:
            capabilities.pop(name, None)
    return capabilities


def _schedule(params: Params, current: dict) -> dict:
    settings = params.mapping("settings") or {}
    if set(settings) - {"payouts"}:
        raise parameter_invalid("settings", "The offline Stripe models only settings[payouts].")
    payouts = settings.get("payouts") or {}
    if not isinstance(payouts, dict) or set(payouts) - {"schedule", "statement_descriptor"}:
        raise parameter_invalid("settings[payouts]", "The offline Stripe models settings[payouts][schedule] only.")
    schedule = dict(current)
    given = payouts.get("schedule") or {}
    if not isinstance(given, dict):
        raise parameter_invalid("settings[payouts][schedule]", "Invalid object")
    if "interval" in given:
        if given["interval"] not in SCHEDULE_INTERVALS:
            raise parameter_invalid("settings[payouts][schedule][interval]",
                                    f"Invalid settings[payouts][schedule][interval]: must be one of "
                                    f"{', '.join(SCHEDULE_INTERVALS)}")
        schedule["interval"] = given["interval"]
    for key in ("delay_days", "monthly_anchor"):
        if key in given:
            if not str(given[key]).isdigit():
                raise parameter_invalid(f"settings[payouts][schedule][{key}]", f"Invalid integer: {given[key]}",
                                        code="parameter_invalid_integer")
            schedule[key] = int(given[key])
    if "weekly_anchor" in given:
        schedule["weekly_anchor"] = given["weekly_anchor"]
    return schedule


def create(rt: Runtime, params: Params) -> dict:
    """``POST /v1/accounts``: a connected account that cannot receive transfers or pay out yet."""
    account_type = params.string("type", choices=TYPES)
    controller = params.mapping("controller")
    if account_type is None and controller is None:
        raise StripeError(400, "You must provide a type or a controller.", param="type", code="parameter_missing",
                          saved=False)
    country = (params.string("country") or "US").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise parameter_invalid("country", f"Country '{country}' is unknown. Try using a 2-character alphanumeric "
                                           "country code instead, such as 'US', 'EG', or 'GB'.")
    default_currency = params.currency("default_currency", required=False) or COUNTRY_CURRENCIES.get(country, "usd")
    email = params.string("email")
    business_type = params.string("business_type", choices=BUSINESS_TYPES)
    business_profile = params.mapping("business_profile") or {}
    capabilities = _capabilities(params, {}, "inactive")
    schedule = _schedule(params, {"delay_days": 2, "interval": "daily"})
    metadata = merge_metadata({}, params.metadata())
    params.no_expand()
    params.done()
    account_type = account_type or "express"
    account_id = new_id("acct_", 16)
    account = {
        "id": account_id,
        "object": "account",
        "business_profile": {"mcc": None, "name": None, "product_description": None, "support_email": None,
                             "url": None, **business_profile},
        "business_type": business_type,
        "capabilities": capabilities,
        "charges_enabled": False,
        "controller": copy.deepcopy(controller or CONTROLLERS[account_type]),
        "country": country,
        "created": int(time.time()),
        "default_currency": default_currency,
        "details_submitted": False,
        "email": email,
        "external_accounts": list_object(f"/v1/accounts/{account_id}/external_accounts", [], False)
        | {"total_count": 0},
        "future_requirements": _requirements([]),
        "metadata": metadata,
        "payouts_enabled": False,
        "requirements": _requirements(ONBOARDING_REQUIREMENTS),
        "settings": {"payouts": {"debit_negative_balances": True, "schedule": schedule, "statement_descriptor": None}},
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": account_type,
    }
    rt.state.accounts[account_id] = account
    return account


def get(rt: Runtime, account_id: str, param: str | None = None) -> dict:
    account = rt.state.accounts.get(account_id)
    if account is None:
        raise resource_missing("account", account_id, param)
    return account


def can_receive_transfers(account: dict) -> bool:
    """Stripe sends a transfer only to an account whose ``transfers`` capability is active."""
    return account["capabilities"].get("transfers") == "active"


def _change(rt: Runtime, account: dict, change) -> dict:
    """Apply ``change(account)`` and send ``capability.updated`` / ``account.updated`` for what it changed."""
    before = copy.deepcopy(account)
    change(account)
    for name, status in account["capabilities"].items():
        if before["capabilities"].get(name) != status:
            rt.emit("capability.updated", _capability(account, name), account=account["id"],
                    previous={"status": before["capabilities"].get(name)})
    previous = previous_attributes(before, account)
    if previous:
        rt.emit("account.updated", account, account=account["id"], previous=previous)
    return account


def _capability(account: dict, name: str) -> dict:
    status = account["capabilities"][name]
    return {"id": name, "object": "capability", "account": account["id"], "requested": True,
            "requested_at": account["created"], "requirements": _requirements([] if status == "active"
                                                                               else account["requirements"]["past_due"]),
            "status": status}


def _bank_account(account: dict) -> dict:
    return {
        "id": new_id("ba_"), "object": "bank_account", "account": account["id"], "account_holder_name": None,
        "account_holder_type": "individual", "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK", "country": account["country"], "currency": account["default_currency"],
        "default_for_currency": True, "fingerprint": new_id("", 16), "last4": "6789", "metadata": {},
        "routing_number": "110000000", "status": "new",
    }


def complete_onboarding(rt: Runtime, account_id: str) -> dict:
    """Everything Stripe's onboarding would collect, at once; nothing is sent when nothing changes."""
    def onboard(account: dict) -> None:
        account["business_type"] = account["business_type"] or "individual"
        account["capabilities"] = {name: "active" for name in account["capabilities"] or {"transfers": None}}
        account["details_submitted"] = account["charges_enabled"] = account["payouts_enabled"] = True
        account["requirements"] = _requirements([])
        account["future_requirements"] = _requirements([])
        if account["tos_acceptance"]["date"] is None:
            account["tos_acceptance"] = {"date": int(time.time()), "ip": "127.0.0.1",
                                         "user_agent": "payflow offline Stripe"}
        external = account["external_accounts"]
        if not external["data"]:
            external["data"] = [_bank_account(account)]
            external["total_count"] = 1

    return _change(rt, get(rt, account_id), onboard)


def restrict(rt: Runtime, account_id: str) -> dict:
    """Stripe needs more information: payouts and transfers stop until onboarding is completed again."""
    def needs_more(account: dict) -> None:
        account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
        account["charges_enabled"] = account["payouts_enabled"] = False
        account["requirements"] = _requirements(RESTRICTED_REQUIREMENTS)

    return _change(rt, get(rt, account_id), needs_more)


def update(rt: Runtime, account_id: str, params: Params) -> dict:
    """``POST /v1/accounts/{id}``: metadata, email, business details, more capabilities, payout schedule."""
    account = get(rt, account_id)
    email = params.string("email")
    business_type = params.string("business_type", choices=BUSINESS_TYPES)
    business_profile = params.mapping("business_profile")
    default_currency = params.currency("default_currency", required=False)
    capabilities = _capabilities(params, account["capabilities"],
                                 "active" if account["details_submitted"] else "inactive")
    schedule = _schedule(params, account["settings"]["payouts"]["schedule"])
    metadata = params.metadata()
    params.no_expand()
    params.done()

    def apply(account: dict) -> None:
        if email is not None:
            account["email"] = email
        if business_type is not None:
            account["business_type"] = business_type
        if business_profile:
            account["business_profile"] = {**account["business_profile"], **business_profile}
        if default_currency:
            account["default_currency"] = default_currency
        account["capabilities"] = capabilities
        account["settings"]["payouts"]["schedule"] = schedule
        account["metadata"] = merge_metadata(account["metadata"], metadata)

    return _change(rt, account, apply)


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
    params = await from_request(request)
    newest_first = list(reversed(runtime(request).state.accounts.values()))
    return json_response(listing.page("/v1/accounts", "account", newest_first, params))


async def onboard_route(request: web.Request) -> web.Response:
    """``POST /_config/accounts/{id}/onboard``: onboarding completed without a browser."""
    return json_response(complete_onboarding(runtime(request), request.match_info["id"]))


async def restrict_route(request: web.Request) -> web.Response:
    """``POST /_config/accounts/{id}/restrict``: requirements past due; payouts and transfers disabled."""
    return json_response(restrict(runtime(request), request.match_info["id"]))
