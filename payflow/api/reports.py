"""Read-side reports: the influencer's statement and earnings, CSV exports, and the currency table."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_jwt_extended import current_user

from .. import csv_export, earnings, statement
from ..models import Payment
from ..money import exponents
from ..pagination import batches
from .auth import authenticated
from .payments import listed
from .validation import EarningsQuery, PeriodQuery, parse_query

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
@authenticated("influencer")
def wallet_statement():
    """One line per movement of the influencer's money, newest first, with the balance after each."""
    filters = parse_query(PeriodQuery)
    return jsonify(statement.page(current_user.id, filters.currency, filters.period, request.args))


@bp.get("/wallet/statement.csv")
@authenticated("influencer")
def wallet_statement_csv():
    filters = parse_query(PeriodQuery)
    lines = statement.every_line(current_user.id, filters.currency, filters.period)
    body = csv_export.stream(csv_export.STATEMENT_COLUMNS, map(csv_export.statement_row, lines))
    return _csv_response("payflow-statement", filters, body)


@bp.get("/payments.csv")
@authenticated()
def payments_csv():
    """The caller's payments, as ``GET /payments`` lists them with the same filters."""
    filters = parse_query(PeriodQuery)
    pages = batches(listed(current_user, filters), Payment.id,
                    lambda rows: [csv_export.payment_row(payment) for payment, in rows])
    rows = (row for page in pages for row in page)
    return _csv_response("payflow-payments", filters, csv_export.stream(csv_export.PAYMENT_COLUMNS, rows))


@bp.get("/wallet/earnings")
@authenticated("influencer")
def wallet_earnings():
    query = parse_query(EarningsQuery)
    return jsonify(earnings.earnings(current_user.id, query.period, query.currency, query.tz))


@bp.get("/currencies")
def currencies():
    """Every currency payflow takes, with its minor-unit exponent (Stripe's): how to show an amount."""
    return jsonify({"items": [{"code": code, "exponent": exponent} for code, exponent in exponents().items()]})
