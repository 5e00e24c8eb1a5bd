"""GET /wallet/statement.csv and GET /payments.csv: the JSON lists' lines and filters, as streamed CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from payflow import csv_export

from .factories import backdate


def _csv(client, factory, user, path: str) -> tuple[list[str], list[dict]]:
    response = client.get(path, headers=factory.headers(user))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and response.is_streamed
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payflow-')
    reader = csv.reader(io.StringIO(response.get_data(as_text=True)))
    header, *rows = list(reader)
    return header, [dict(zip(header, row)) for row in rows]


def _all_items(client, factory, user, path: str) -> list[dict]:
    items, cursor = [], None
    while True:
        separator = "&" if "?" in path else "?"
        response = client.get(path + (f"{separator}cursor={cursor}" if cursor else ""), headers=factory.headers(user))
        body = response.get_json()
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items


def test_the_statement_csv_has_a_header_and_the_same_lines_as_the_api(client, factory):
    company, influencer = factory.user("company", name="Acme, Inc."), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 10000, "eur")
    payout = factory.payout(influencer, 3000, "eur")
    factory.payout_failed(payout.id)
    factory.refund_confirmed(payment.id, 2000)
    factory.released_payment_direct(company, influencer, 500, "jpy")
    header, rows = _csv(client, factory, influencer, "/wallet/statement.csv")
    assert header == csv_export.STATEMENT_COLUMNS
    items = _all_items(client, factory, influencer, "/wallet/statement?limit=2")
    assert len(rows) == len(items) == 5
    for row, item in zip(rows, items):
        assert row["id"] == item["id"] and row["type"] == item["type"] and row["created_at"] == item["createdAt"]
        assert int(row["amount_minor"]) == item["amount"] and int(row["balance_minor"]) == item["balance"]
        assert row["counterparty"] == (item["counterpartyName"] or "") and row["currency"] == item["currency"]
        assert row["payment_id"] == (item["paymentId"] or "") and row["payout_id"] == (item["payoutId"] or "")
    jpy, clawback = rows[0], rows[1]
    assert (jpy["amount"], jpy["balance"], jpy["fee"]) == ("450", "450", "50")  # no minor unit in JPY
    assert (clawback["amount_minor"], clawback["amount"], clawback["balance"], clawback["counterparty"]) == (
        "-1800", "-18.00", "72.00", "Acme, Inc.")
    assert rows[2]["fee"] == "" and rows[2]["type"] == "payout_returned"
    assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo == timezone.utc


def test_the_statement_csv_takes_the_same_filters(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    old = factory.released_payment_direct(company, influencer, 1000, "usd")
    factory.released_payment_direct(company, influencer, 2000, "usd")
    factory.released_payment_direct(company, influencer, 3000, "eur")
    backdate(datetime(2024, 1, 10, tzinfo=timezone.utc), payment_id=old.id)
    _, rows = _csv(client, factory, influencer, "/wallet/statement.csv?currency=usd&from=2024-01-01&to=2024-01-31")
    assert [(row["payment_id"], row["balance"]) for row in rows] == [(old.id, "9.00")]
    _, usd = _csv(client, factory, influencer, "/wallet/statement.csv?currency=usd")
    assert [row["balance_minor"] for row in usd] == ["2700", "900"]
    response = client.get("/wallet/statement.csv?currency=usd&from=2024-01-01&to=2024-01-31",
                          headers=factory.headers(influencer))
    assert 'filename="payflow-statement-usd-2024-01-01-2024-01-31.csv"' in response.headers["Content-Disposition"]


def test_bad_filters_are_a_json_400_before_any_csv_is_sent(client, factory):
    influencer, company = factory.user("influencer"), factory.user("company")
    for user, path in [(influencer, "/wallet/statement.csv?from=soon"), (company, "/payments.csv?currency=abc"),
                       (company, "/payments.csv?from=2024-02-01&to=2024-01-01")]:
        response = client.get(path, headers=factory.headers(user))
        assert response.status_code == 400 and response.mimetype == "application/json"
        assert response.get_json()["error"]["code"] == "invalid_request"
    assert client.get("/wallet/statement.csv", headers=factory.headers(company)).status_code == 403
    assert client.get("/payments.csv").status_code == 401


def test_the_payments_csv_lists_the_companys_payments_as_the_api_does(client, factory):
    company, riley, sam = factory.user("company"), factory.user("influencer", name="Riley"), factory.user("influencer")
    released = factory.released_payment_direct(company, riley, 5000, "usd")
    held = factory.held_payment_direct(company, sam, 1999, "usd")
    factory.refund_confirmed(held.id, 999)
    factory.held_payment_direct(factory.user("company"), riley, 7000, "usd")  # another company's
    header, rows = _csv(client, factory, company, "/payments.csv")
    assert header == csv_export.PAYMENT_COLUMNS
    items = _all_items(client, factory, company, "/payments?limit=1")
    assert [row["id"] for row in rows] == [item["id"] for item in items] == [held.id, released.id]
    for row, item in zip(rows, items):
        assert (row["status"], row["company"], row["influencer"]) == (item["status"], item["companyName"], item["influencerName"])
        assert int(row["amount_minor"]) == item["amount"] and int(row["net_minor"]) == item["netAmount"]
        assert row["created_at"] == item["createdAt"]
    partly, whole = rows
    assert (partly["amount"], partly["refunded"], partly["fee"], partly["net"], partly["released_at"]) == (
        "19.99", "9.99", "1.00", "9.00", "")  # what a release of the 10.00 left would give
    assert (whole["fee"], whole["net"], whole["influencer"]) == ("5.00", "45.00", "Riley")
    _, riley_rows = _csv(client, factory, riley, "/payments.csv?currency=usd")
    assert len(riley_rows) == 2  # an influencer gets the payments to them


def test_the_payments_csv_takes_the_same_filters_as_the_list(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer, 1000, "usd")
    eur = factory.held_payment_direct(company, influencer, 2000, "eur")
    _, rows = _csv(client, factory, company, "/payments.csv?currency=EUR")
    assert [row["id"] for row in rows] == [item["id"] for item in _all_items(client, factory, company, "/payments?currency=eur")] == [eur.id]
    _, none = _csv(client, factory, company, "/payments.csv?to=2000-01-01")
    assert none == []


def test_text_a_spreadsheet_would_run_as_a_formula_is_neutralised(client, factory):
    company = factory.user("company", name="=HYPERLINK(\"http://evil.test\")")
    influencer = factory.user("influencer", name="@Riley")
    factory.released_payment_direct(company, influencer, 5000, "usd")
    _, rows = _csv(client, factory, company, "/payments.csv")
    assert rows[0]["company"] == "'=HYPERLINK(\"http://evil.test\")" and rows[0]["influencer"] == "'@Riley"
    _, lines = _csv(client, factory, influencer, "/wallet/statement.csv")
    assert lines[0]["counterparty"].startswith("'=") and lines[0]["amount"] == "45.00"


def test_a_long_export_comes_in_several_chunks(app):
    rows = ([str(number), "-5.00"] for number in range(csv_export.ROWS_PER_CHUNK * 2 + 1))
    chunks = list(csv_export.stream(["n", "amount"], rows))
    assert len(chunks) == 3
    assert "".join(chunks).splitlines()[-1] == f"{csv_export.ROWS_PER_CHUNK * 2},-5.00"
