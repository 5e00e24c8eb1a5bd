"""Read-side reports: the influencer's statement and earnings, CSV exports, and the currency table."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_jwt_extended import current_user

from .. import csv_export, earnings, statement
from ..models import Payment
from ..money import exponents
from ..pagination import batches
from . import schemas
from .auth import authenticated
from .openapi import Raw, operation
from .payments import listed
from .validation import EarningsQuery, PeriodPageQuery, PeriodQuery, parse_query

bp = Blueprint("reports", __name__)


def _csv_response(name: str, filters: PeriodQuery, body) -> Response:
    parts = [name, filters.currency, filters.from_ and filters.from_[:10], filters.to and filters.to[:10]]
    filename = "-".join(part for part in parts if part) + ".csv"
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a large file starts downloading at once
    return response


@bp.get("/wallet/statement")
@operation("One line per movement of the caller's money, newest first, with the balance after each",
           tag="wallet", query=PeriodPageQuery, responses={200: schemas.StatementPage},
           description="A release is one line with its net; a payout, a payout returned and a refund taken back "
                       "after release are one line each. Money still in escrow has no line.")
@authenticated("influencer")
def wallet_statement():
    """One line per movement of the influencer's money, newest first, with the balance after each."""
    filters = parse_query(PeriodQuery)
    return jsonify(statement.page(current_user.id, filters.currency, filters.period, request.args))


@bp.get("/wallet/statement.csv")
@operation("The statement's lines as CSV", tag="wallet", query=PeriodQuery,
           responses={200: Raw("text/csv", "A header row, then the lines, newest first; streamed")},
           description="Amounts in minor units and as decimals; ISO 8601 UTC times; the same filters as the JSON.")
@authenticated("influencer")
def wallet_statement_csv():
    filters = parse_query(PeriodQuery)
    lines = statement.every_line(current_user.id, filters.currency, filters.period)
    body = csv_export.stream(csv_export.STATEMENT_COLUMNS, map(csv_export.statement_row, lines))
    return _csv_response("payflow-statement", filters, body)


@bp.get("/payments.csv")
@operation("The caller's payments as CSV", tag="payments", query=PeriodQuery,
           responses={200: Raw("text/csv", "A header row, then the payments, newest first; streamed")},
           description="The payments GET /payments lists with the same filters, with both parties, fee and net.")
@authenticated()
def payments_csv():
    """The caller's payments, as ``GET /payments`` lists them with the same filters."""
    filters = parse_query(PeriodQuery)
    pages = batches(listed(current_user, filters), Payment.id,
                    lambda rows: [csv_export.payment_row(payment) for payment, in rows])
    rows = (row for page in pages for row in page)
    return _csv_response("payflow-payments", filters, csv_export.stream(csv_export.PAYMENT_COLUMNS, rows))


@bp.get("/wallet/earnings")
@operation("What was released to the caller per day or month, zero-filled", tag="wallet", query=EarningsQuery,
           responses={200: schemas.Earnings})
@authenticated("influencer")
def wallet_earnings():
    query = parse_query(EarningsQuery)
    return jsonify(earnings.earnings(current_user.id, query.period, query.currency, query.tz))


@bp.get("/currencies")
@operation("Every currency payflow takes, with its minor-unit exponent", tag="operations", security="none",
           responses={200: schemas.Currencies})
def currencies():
    """Every currency payflow takes, with its minor-unit exponent (Stripe's): how to show an amount."""
    return jsonify({"items": [{"code": code, "exponent": exponent} for code, exponent in exponents().items()]})
