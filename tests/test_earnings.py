"""GET /wallet/earnings: released net per day (30 days) or month (12 months), zero-filled, in one call."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from payflow import earnings
from payflow.api import schemas

from .factories import backdate


def _earnings(client, factory, user, query: str = "") -> dict:
    response = client.get(f"/wallet/earnings{query}", headers=factory.headers(user))
    assert response.status_code == 200, response.get_json()
    schemas.Earnings.model_validate(response.get_json())  # the shape /openapi.json promises
    return response.get_json()


def test_thirty_days_zero_filled_with_todays_release_in_the_last_one(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.released_payment_direct(company, influencer, 5000, "usd")
    factory.released_payment_direct(company, influencer, 2000, "usd")
    body = _earnings(client, factory, influencer, "?period=day")
    assert body["period"] == "day" and body["timeZone"] == "UTC"
    [usd] = body["currencies"]
    today = datetime.now(timezone.utc).date()
    assert [item["date"] for item in usd["items"]] == [(today - timedelta(days=n)).isoformat() for n in range(29, -1, -1)]
    assert [item["amount"] for item in usd["items"]] == [0] * 29 + [6300]
    assert usd == {"currency": "usd", "total": 6300, "items": usd["items"]}


def test_an_older_release_lands_on_its_day_and_one_older_than_the_window_is_left_out(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    now = datetime.now(timezone.utc)
    old = factory.released_payment_direct(company, influencer, 1000, "usd")
    recent = factory.released_payment_direct(company, influencer, 3000, "usd")
    backdate(now - timedelta(days=40), payment_id=old.id)
    backdate(now - timedelta(days=3), payment_id=recent.id)
    [usd] = _earnings(client, factory, influencer)["currencies"]
    amounts = {item["date"]: item["amount"] for item in usd["items"]}
    assert amounts[(now - timedelta(days=3)).date().isoformat()] == 2700
    assert usd["total"] == 2700


def test_twelve_months_zero_filled(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    factory.released_payment_direct(company, influencer, 5000, "eur")
    [eur] = _earnings(client, factory, influencer, "?period=month&currency=eur")["currencies"]
    today = datetime.now(timezone.utc).date()
    assert len(eur["items"]) == 12 and eur["items"][-1] == {"date": today.isoformat()[:7], "amount": 4500}
    assert all(item["amount"] == 0 for item in eur["items"][:-1])
    months = [item["date"] for item in eur["items"]]
    assert months == sorted(months) and len(set(months)) == 12


def test_months_wrap_around_the_year(app, factory):
    influencer = factory.user("influencer")
    body = earnings.earnings(influencer.id, "month", "usd", now=datetime(2024, 2, 10, tzinfo=timezone.utc))
    assert [item["date"] for item in body["currencies"][0]["items"]] == [
        "2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09", "2023-10", "2023-11", "2023-12",
        "2024-01", "2024-02"]


def test_days_are_the_readers_days_in_their_time_zone(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.released_payment_direct(company, influencer, 5000, "usd")
    late_evening_utc = (datetime.now(timezone.utc) - timedelta(days=2)).replace(hour=23, minute=30)
    backdate(late_evening_utc, payment_id=payment.id)
    in_utc = _earnings(client, factory, influencer, "?period=day")["currencies"][0]["items"]
    in_tokyo = _earnings(client, factory, influencer, "?period=day&tz=Asia/Tokyo")["currencies"][0]["items"]
    assert next(item["date"] for item in in_utc if item["amount"]) == late_evening_utc.date().isoformat()
    assert next(item["date"] for item in in_tokyo if item["amount"]) == (late_evening_utc.date() + timedelta(days=1)).isoformat()


def test_every_currency_comes_in_the_one_answer_and_refunds_do_not_reduce_what_was_released(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    usd = factory.released_payment_direct(company, influencer, 5000, "usd")
    factory.released_payment_direct(company, influencer, 500, "jpy")
    factory.refund_confirmed(usd.id, 5000)
    body = _earnings(client, factory, influencer, "?period=month")
    assert [(series["currency"], series["total"]) for series in body["currencies"]] == [("jpy", 450), ("usd", 4500)]


def test_an_influencer_who_earned_nothing_gets_an_empty_list_or_zeros_for_a_named_currency(client, factory):
    influencer = factory.user("influencer")
    assert _earnings(client, factory, influencer)["currencies"] == []
    [series] = _earnings(client, factory, influencer, "?currency=usd")["currencies"]
    assert series["total"] == 0 and len(series["items"]) == 30


def test_bad_parameters_are_refused_and_only_influencers_have_earnings(client, factory):
    influencer = factory.user("influencer")
    for query, field in [("?period=week", "period"), ("?currency=zzz", "currency"), ("?tz=Mars/Olympus", "tz"),
                         ("?tz=America", "tz"), ("?tz=../etc", "tz")]:
        response = client.get(f"/wallet/earnings{query}", headers=factory.headers(influencer))
        assert response.status_code == 400 and field in response.get_json()["error"]["message"]
    assert client.get("/wallet/earnings", headers=factory.headers(factory.user("company"))).status_code == 403
