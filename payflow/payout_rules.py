"""Which payout amounts Stripe can pay, per currency: checked before anything is sent.

Amounts are in minor units. Two kinds of rule, from Stripe's documentation:

* Whole units only (``step``). "Supported currencies", special cases: Stripe charges
  HUF and TWD with two decimals, but pays them out only in integer amounts evenly
  divisible by 100 (whole forints, whole dollars); ISK amounts are always whole krónur
  written as two-decimal values.
* A minimum (``minimum``). "Connect: country-specific considerations for cross-border
  payouts": "Typically, the minimum is one base unit of the recipient account's local
  currency. In some cases, Stripe sets a higher minimum"; the higher ones that page lists
  are in ``_HIGHER_MINIMUMS`` (in major units, as Stripe writes them), and AUD and CAD,
  which it lists with no minimum, are in ``_NO_MINIMUM``.

Every other currency pays out any amount of at least one unit of the currency (100
minor units, or 1 in a zero-decimal currency).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InsufficientFunds, Unprocessable
from .money import format_amount, minor_unit_exponent

_WHOLE_UNITS_ONLY = frozenset({"huf", "twd", "isk"})
_HIGHER_MINIMUMS = {  # major units
    "all": 3000,
    "aoa": 23000,
    "ars": 4600,
    "amd": 12100,
    "azn": 50,
    "bdt": 20,
    "bob": 200,
    "bam": 50,
    "khr": 123000,
    "clp": 23000,
    "cop": 140000,
}
_NO_MINIMUM = frozenset({"aud", "cad"})


@dataclass(frozen=True)
class PayoutRule:
    minimum: int  # minor units
    step: int  # a payable amount is a multiple of this (minor units)

    def largest_payable(self, at_most: int) -> int:
        """The largest amount Stripe can pay out that is not above ``at_most``; 0 if none."""
        amount = at_most - at_most % self.step
        return amount if amount >= self.minimum else 0

    def allows(self, amount: int) -> bool:
        return amount >= self.minimum and amount % self.step == 0


def rule_for(currency: str) -> PayoutRule:
    unit = 10 ** minor_unit_exponent(currency)
    step = unit if currency in _WHOLE_UNITS_ONLY else 1
    if currency in _NO_MINIMUM:
        minimum = 1
    else:
        minimum = _HIGHER_MINIMUMS.get(currency, 1) * unit
    return PayoutRule(minimum=minimum, step=step)


class PayoutAmountNotPayable(Unprocessable):
    code = "payout_amount_not_payable"


def check(amount: int, available: int, currency: str) -> None:
    """Refuse a payout Stripe could not pay, or that the wallet cannot cover.

    Raises ``InsufficientFunds`` (over ``available``) or ``PayoutAmountNotPayable`` (below
    the currency's minimum, or not whole units where Stripe pays only those); both are 422
    and carry ``largestPayableAmount``: the most that can be paid out now, at most
    ``amount`` and ``available`` (0 when nothing can).
    """
    rule = rule_for(currency)
    largest = rule.largest_payable(min(amount, available))
    details = {"availableBalance": available, "largestPayableAmount": largest}
    if amount > available:
        raise InsufficientFunds(
            f"{format_amount(amount, currency)} is more than the available {format_amount(available, currency)}",
            details=details,
        )
    if rule.allows(amount):
        return
    if amount < rule.minimum:
        reason = f"Stripe pays out at least {format_amount(rule.minimum, currency)}"
    else:
        reason = f"Stripe pays out {currency.upper()} only in whole units"
    offer = f"; the most you can withdraw now is {format_amount(largest, currency)}" if largest else ""
    raise PayoutAmountNotPayable(
        f"{format_amount(amount, currency)} cannot be paid out: {reason}{offer}",
        details={**details, "minimumAmount": rule.minimum},
    )
