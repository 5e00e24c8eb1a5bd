"""What was released to an influencer per day (last 30 days) or month (last 12 months), zero-filled.

"Released" is the net each release credited to them (to their wallet, or to a debt it
settled first), on the day of the release in the reader's time zone. Refunds after
release are not subtracted: the chart answers "what did I earn", the statement shows
what came back out. One call gives every bucket of every currency the influencer has,
so the dashboard draws the chart without a request per point.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from . import ledger
from .extensions import db
from .models import LedgerAccount, LedgerEntry, LedgerTransaction, utcnow

DAYS, MONTHS = 30, 12
OWN_MONEY = (ledger.WALLET, ledger.RECEIVABLE)


def _buckets(period: str, today: date) -> list[date]:
    """First day of each bucket, oldest first, ending with the one holding ``today``."""
    if period == "day":
        return [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    months = []
    year, month = today.year, today.month
    for _ in range(MONTHS):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _label(period: str, start: date) -> str:
    return start.isoformat() if period == "day" else start.isoformat()[:7]


def _bucket_of(period: str, day: date) -> date:
    return day if period == "day" else day.replace(day=1)


def earnings(user_id: str, period: str, currency: str | None = None, time_zone: str = "UTC",
             now: datetime | None = None) -> dict:
    """``{"period", "timeZone", "currencies": [{"currency", "total", "items": [{"date", "amount"}]}]}``.

    ``period`` is ``day`` (30 items, ``date`` 2024-05-31) or ``month`` (12 items, ``date``
    2024-05); amounts are minor units. Without ``currency``, every currency the influencer
    has a wallet in, in code order; with it, that one (all zeros if never touched).
    """
    zone = ZoneInfo(time_zone)
    today = (now or utcnow()).astimezone(zone).date()
    starts = _buckets(period, today)
    # bound in UTC: SQLite keeps the wall time of a datetime and drops its zone
    since = datetime.combine(starts[0], time(0), tzinfo=zone).astimezone(timezone.utc)
    query = (
        select(LedgerTransaction.currency, LedgerTransaction.created_at, -func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.user_id == user_id, LedgerAccount.purpose.in_(OWN_MONEY),
               LedgerTransaction.kind == "release", LedgerTransaction.created_at >= since)
        .group_by(LedgerTransaction.id, LedgerTransaction.currency, LedgerTransaction.created_at)
    )
    if currency:
        query = query.where(LedgerTransaction.currency == currency)
    totals: dict[str, dict[date, int]] = {}
    for row_currency, created_at, amount in db.session.execute(query):
        bucket = _bucket_of(period, created_at.astimezone(zone).date())
        per_bucket = totals.setdefault(row_currency, {})
        per_bucket[bucket] = per_bucket.get(bucket, 0) + int(amount)
    currencies = [currency] if currency else sorted(set(_wallet_currencies(user_id)) | totals.keys())
    return {
        "period": period,
        "timeZone": time_zone,
        "currencies": [_series(period, starts, code, totals.get(code, {})) for code in currencies],
    }


def _series(period: str, starts: list[date], currency: str, per_bucket: dict[date, int]) -> dict:
    items = [{"date": _label(period, start), "amount": per_bucket.get(start, 0)} for start in starts]
    return {"currency": currency, "total": sum(item["amount"] for item in items), "items": items}


def _wallet_currencies(user_id: str) -> list[str]:
    return list(db.session.scalars(
        select(LedgerAccount.currency).where(LedgerAccount.user_id == user_id,
                                             LedgerAccount.purpose.in_(ledger.WALLET_PURPOSES)).distinct()
    ))
