"""GET /wallet/statement: one line per movement of the influencer's money, with a running balance (SPEC §11).

The platform fee is 10%. Each test checks the lines against the wallet: the newest
line's balance is always available − owed.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from payflow import payments, statement
from payflow.api import schemas
from payflow.extensions import db
from payflow.models import Payment, Refund
from payflow.periods import DateRange
from payflow.wallet import wallet_view
from payflow.webhooks import simulate

from .factories import backdate
from .webhook_helpers import deliver, run_jobs


def _statement(client, factory, user, query: str = "") -> dict:
    response = client.get(f"/wallet/statement{query}", headers=factory.headers(user))
    assert response.status_code == 200, response.get_json()
    schemas.StatementPage.model_validate(response.get_json())  # the shape /openapi.json promises
    return response.get_json()


def _lines(client, factory, user, query: str = "") -> list[tuple]:
    items = _statement(client, factory, user, query)["items"]
    return [(item["type"], item["amount"], item["balance"]) for item in items]


def _own_money(user, currency: str) -> int:
    view = wallet_view(user.id, currency)
    return view["availableBalance"] - view["receivableBalance"]


def test_a_release_is_one_line_with_the_net_and_the_fee_and_the_company_beside_it(client, factory):
    company, influencer = factory.user("company", name="Acme Studios"), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 5000, "usd")
    items = _statement(client, factory, influencer)["items"]
    assert items == [{
        "id": items[0]["id"],
        "type": "release",
        "description": "Payment released",
        "amount": 4500,
        "currency": "usd",
        "balance": 4500,
        "feeAmount": 500,
        "paymentId": payment.id,
        "payoutId": None,
        "counterpartyName": "Acme Studios",
        "paymentDescription": "",
        "createdAt": items[0]["createdAt"],
    }]
    assert items[0]["id"].startswith("ltx_") and items[0]["createdAt"].endswith("Z")


def test_money_still_in_escrow_has_no_line(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.held_payment_direct(company, influencer, 5000, "usd")
    assert _statement(client, factory, influencer) == {"items": [], "nextCursor": None}


def test_a_payout_and_its_failure_are_a_line_each_and_the_money_comes_back(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.released_payment_direct(company, influencer, 10000, "eur")
    payout = factory.payout(influencer, 3000, "eur")
    assert _lines(client, factory, influencer) == [("payout", -3000, 6000), ("release", 9000, 9000)]
    factory.payout_failed(payout.id)
    items = _statement(client, factory, influencer)["items"]
    assert [(item["type"], item["amount"], item["balance"], item["payoutId"]) for item in items] == [
        ("payout_returned", 3000, 9000, payout.id),
        ("payout", -3000, 6000, payout.id),
        ("release", 9000, 9000, None),
    ]
    assert items[0]["balance"] == _own_money(influencer, "eur")


def test_a_refund_after_release_claws_back_and_what_the_wallet_cannot_cover_shows_as_owed(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    first = factory.released_payment_direct(company, influencer, 10000, "eur")  # net 9000
    factory.payout(influencer, 8000, "eur")
    factory.refund_confirmed(first.id, 10000)  # claws back 9000: 1000 from the wallet, 8000 owed
    assert _lines(client, factory, influencer) == [
        ("clawback", -9000, -8000),
        ("payout", -8000, 1000),
        ("release", 9000, 9000),
    ]
    assert wallet_view(influencer.id, "eur")["receivableBalance"] == 8000
    clawback = _statement(client, factory, influencer)["items"][0]
    assert clawback["feeAmount"] == 1000 and clawback["paymentId"] == first.id

    # The next release settles the debt first: still one line, with its whole net.
    factory.released_payment_direct(company, influencer, 10000, "eur")
    assert _lines(client, factory, influencer)[0] == ("release", 9000, 1000)
    assert _own_money(influencer, "eur") == 1000


def test_a_partial_refund_after_release_claws_back_in_proportion(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 5000, "usd")
    factory.refund_confirmed(payment.id, 1000)  # remaining 4000: fee 400, net 3600
    assert _lines(client, factory, influencer) == [("clawback", -900, 3600), ("release", 4500, 4500)]


def test_pages_follow_each_other_and_carry_the_running_balance(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    for amount in (1000, 2000, 3000, 4000, 5000):
        factory.released_payment_direct(company, influencer, amount, "usd")
    whole = _statement(client, factory, influencer)["items"]
    assert [item["balance"] for item in whole] == [13500, 9000, 5400, 2700, 900]

    pages, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = _statement(client, factory, influencer, query)
        pages.append(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item for page in pages for item in page] == whole


def test_the_currency_filter_shows_one_currency_and_each_balance_is_of_its_own_currency(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.released_payment_direct(company, influencer, 5000, "usd")
    factory.released_payment_direct(company, influencer, 2000, "eur")
    factory.released_payment_direct(company, influencer, 3000, "usd")
    mixed = _statement(client, factory, influencer)["items"]
    assert [(item["currency"], item["balance"]) for item in mixed] == [("usd", 7200), ("eur", 1800), ("usd", 4500)]
    assert [(item["currency"], item["balance"]) for item in _statement(client, factory, influencer, "?currency=EUR")[
        "items"]] == [("eur", 1800)]


def test_date_filters_keep_the_balance_of_everything_before_them(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    march = factory.released_payment_direct(company, influencer, 1000, "usd")
    april = factory.released_payment_direct(company, influencer, 2000, "usd")
    may = factory.released_payment_direct(company, influencer, 3000, "usd")
    backdate(datetime(2024, 3, 15, 12, tzinfo=timezone.utc), payment_id=march.id)
    backdate(datetime(2024, 4, 30, 23, 59, tzinfo=timezone.utc), payment_id=april.id)
    backdate(datetime(2024, 5, 1, 0, 0, tzinfo=timezone.utc), payment_id=may.id)

    april_only = _statement(client, factory, influencer, "?from=2024-04-01&to=2024-04-30")["items"]
    assert [(item["paymentId"], item["balance"]) for item in april_only] == [(april.id, 2700)]  # 900 from March
    may_on = _statement(client, factory, influencer, "?from=2024-05-01")["items"]
    assert [item["paymentId"] for item in may_on] == [may.id]
    # a time with an offset is a moment: 02:00 in Berlin on May 1st is midnight UTC, May's first line excluded
    before = _statement(client, factory, influencer, "?to=2024-05-01T02:00:00%2B02:00")["items"]
    assert [item["paymentId"] for item in before] == [april.id, march.id]
    unencoded = _statement(client, factory, influencer, "?to=2024-05-01T02:00:00+02:00")["items"]  # "+" read as a space
    assert unencoded == before


def test_bad_filters_are_refused_with_the_json_error_shape(client, factory):
    influencer = factory.user("influencer")
    for query, field in [
        ("?currency=xyz", "currency"),
        ("?from=yesterday", "from"),
        ("?to=2024-13-01", "to"),
        ("?from=2024-05-02&to=2024-05-01", "from must be before to"),
        ("?limit=0", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
    ]:
        response = client.get(f"/wallet/statement{query}", headers=factory.headers(influencer))
        assert response.status_code == 400, query
        error = response.get_json()["error"]
        assert error["code"] in ("invalid_request", "invalid_limit", "invalid_cursor") and field in error["message"], error


def test_only_the_influencer_reads_their_statement(client, factory):
    company, influencer, other = factory.user("company"), factory.user("influencer"), factory.user("influencer")
    factory.released_payment_direct(company, influencer, 5000, "usd")
    assert _statement(client, factory, other)["items"] == []
    assert client.get("/wallet/statement", headers=factory.headers(company)).status_code == 403
    assert client.get("/wallet/statement").status_code == 401


def test_reading_every_line_in_small_batches_gives_the_same_lines_and_balances(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    for amount in (1000, 2000, 3000, 4000, 5000):
        factory.released_payment_direct(company, influencer, amount, "usd")
    factory.released_payment_direct(company, influencer, 7000, "eur")
    with app.test_request_context("/"):
        page = statement.page(influencer.id, None, DateRange(), {"limit": "100"})["items"]
        batched = [line.to_json() for line in statement.every_line(influencer.id, None, DateRange(), batch_size=2)]
    assert batched == page and len(batched) == 6


def test_a_day_window_excludes_what_came_after_it(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 5000, "usd")
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    assert [item["paymentId"] for item in _statement(client, factory, influencer, f"?from={yesterday}&to={tomorrow}")[
        "items"]] == [payment.id]
    assert _statement(client, factory, influencer, f"?from={tomorrow}")["items"] == []


def test_a_refund_that_fails_after_it_was_taken_back_returns_as_its_own_line(app, client, factory):
    company = factory.user("company")
    payment = factory.payment(company, factory.user("influencer"), 5000, status="HELD")
    payments.release_payment(company, payment.id)
    refund_id = client.post(f"/payments/{payment.id}/refund", json={"amount": 1000},
                            headers=factory.headers(company)).get_json()["id"]
    confirmed = simulate.event_for("charge.refunded", payment=db.session.get(Payment, payment.id), amount=1000)
    assert deliver(client, confirmed).status_code == 200
    run_jobs(app)
    failed = simulate.refund_event("refund.failed", db.session.get(Refund, refund_id), db.session.get(Payment, payment.id),
                                   "failed", failure_reason="expired_or_canceled_card")
    assert deliver(client, failed).status_code == 200
    run_jobs(app)
    influencer = db.session.get(Payment, payment.id).influencer
    assert _lines(client, factory, influencer) == [("refund_reversed", 900, 4500), ("clawback", -900, 3600),
                                                   ("release", 4500, 4500)]
