"""Currencies and the platform fee, in integer minor units only."""
from __future__ import annotations

# Currencies Stripe charges in (lowercase ISO 4217).
SUPPORTED_CURRENCIES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bif bmd bnd bob brl bsd bwp byn bzd
    cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf
    gtq gyd hkd hnl htg huf idr ils inr isk jmd jpy kes kgs khr kmf krw kyd kzt lak lbp lkr lrd
    lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk
    php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs top
    try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """.split()
)

# Stripe's zero-decimal currencies: an amount of 500 JPY is 500 yen, not 5.00.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

# Stripe's own ceiling for a single charge amount (eight digits).
MAX_AMOUNT = 99_999_999


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point in Stripe's amounts of ``currency``: 0 for JPY, 2 for USD.

    Source: Stripe, "Supported currencies", zero-decimal currencies. Every other
    supported currency is two-decimal in Stripe's API, including ISK, HUF and TWD,
    whose whole-unit rules apply to payouts only.
    """
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


def exponents() -> dict[str, int]:
    """``{currency: minor-unit exponent}`` of every supported currency: the one table
    clients format amounts with (the dashboard gets it in its page config)."""
    return {currency: minor_unit_exponent(currency) for currency in sorted(SUPPORTED_CURRENCIES)}


def platform_fee(amount: int, fee_bps: int) -> int:
    """``ceil(amount * fee_bps / 10000)`` in exact integer arithmetic."""
    if amount < 0:
        raise ValueError("fee of a negative amount")
    return -(-amount * fee_bps // 10000)


def split(amount: int, fee_bps: int) -> tuple[int, int]:
    """(fee, net) for ``amount``: fee + net == amount, always."""
    fee = platform_fee(amount, fee_bps)
    return fee, amount - fee


def format_decimal(amount: int, currency: str) -> str:
    """Minor units as a plain decimal in major units: 4500 usd → ``45.00``, -5 usd → ``-0.05``,
    500 jpy → ``500``. No grouping and a dot, whatever the locale (CSV files, messages)."""
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{minor:0{exponent}d}"


def format_amount(amount: int, currency: str) -> str:
    """Human text such as ``45.00 USD`` or ``500 JPY``, for messages."""
    return f"{format_decimal(amount, currency)} {currency.upper()}"
