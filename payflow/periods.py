"""Date filters of the read side (statement, payments list, CSV exports): a half-open range of UTC moments."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DateRange:
    """``start <= moment < end``, either side open when None; both timezone-aware UTC."""

    start: datetime | None = None
    end: datetime | None = None

    def where(self, query, column):
        """``query`` narrowed to rows whose ``column`` falls in the range."""
        if self.start is not None:
            query = query.where(column >= self.start)
        if self.end is not None:
            query = query.where(column < self.end)
        return query


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime.

    A date alone is a whole UTC day: its first moment as a start, the first moment of
    the next day as an ``end`` (so ``to=2024-05-31`` includes all of May 31st). A
    date-time without an offset is taken as UTC, and a ``+`` offset that a query string turned
    into a space is read as ``+``. Raises ``ValueError`` otherwise.
    """
    # "+02:00" left unencoded in a query string arrives as " 02:00"
    text = re.sub(r"(T[\d:.]+) (\d{2}:?\d{2})$", r"\1+\2", text.strip())
    try:
        if _DATE_ONLY.fullmatch(text):
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError("must be a date such as 2024-05-31 or an ISO 8601 time such as 2024-05-31T12:00:00Z") from exc
