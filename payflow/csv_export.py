"""CSV files of the statement and of the payments: the same lines as their JSON lists, streamed.

Each file has a header row; amounts come twice, in minor units (``amount_minor``: exact,
for programs) and as a plain decimal in major units (``amount``: ``45.00``, ``500`` for
JPY; a dot and no grouping whatever the locale, so spreadsheets read a number); times
are ISO 8601 UTC. Text that a spreadsheet would run as a formula (a cell starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return, OWASP "CSV injection") is prefixed
with an apostrophe, except plain numbers.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Iterator

from . import fees
from .money import format_decimal
from .serializers import iso

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
ROWS_PER_CHUNK = 200

STATEMENT_COLUMNS = [
    "id", "created_at", "type", "description", "counterparty", "payment_description", "payment_id", "payout_id",
    "currency", "amount_minor", "amount", "fee_minor", "fee", "balance_minor", "balance",
]

PAYMENT_COLUMNS = [
    "id", "created_at", "status", "description", "company", "influencer", "currency", "amount_minor", "amount",
    "refunded_minor", "refunded", "fee_bps", "fee_minor", "fee", "net_minor", "net", "held_at", "released_at",
]


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _money(amount: int | None, currency: str) -> tuple:
    return ("", "") if amount is None else (amount, format_decimal(amount, currency))


def stream(columns: list[str], rows: Iterable[list]) -> Iterator[str]:
    """The header, then the rows, as CSV text in chunks (``rows`` is read lazily)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        count += 1
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def statement_row(line) -> list:
    """A ``payflow.statement.Line`` in ``STATEMENT_COLUMNS`` order."""
    return [
        line.id, iso(line.created_at), line.type, line.description, line.counterparty_name, line.payment_description,
        line.payment_id, line.payout_id, line.currency, *_money(line.amount, line.currency),
        *_money(line.fee_amount, line.currency), *_money(line.balance, line.currency),
    ]


def payment_row(payment) -> list:
    """A payment in ``PAYMENT_COLUMNS`` order; fee and net as ``payflow.fees.share`` gives them."""
    share = fees.share(payment)
    currency = payment.currency
    return [
        payment.id, iso(payment.created_at), payment.status, payment.description, payment.company.name,
        payment.influencer.name, currency, *_money(payment.amount, currency),
        *_money(payment.refunded_amount, currency), payment.fee_bps, *_money(share.fee, currency),
        *_money(share.net, currency), iso(payment.held_at), iso(payment.released_at),
    ]
