"""The day-to-day dashboard in a real browser (SPEC §7, §11), on SQLite and PostgreSQL.

Chromium drives the page served by gunicorn with an RQ worker applying localstripe's
signed webhooks, as in ``test_browser.py``: the company sees whom it pays and what they
receive before money moves, follows a payment in its detail view, and cannot send a
refund twice; the influencer sees balances, a statement with running balance and CSV,
and an earnings chart that follows live updates; money and dates follow the reader's
locale; a phone gets 44 px targets and no sideways scrolling. Every page of every test
must end without a JavaScript or console error (``open_page``). Screenshots of each view
go to ``test-artifacts/``.
"""
from __future__ import annotations

import csv
import io
import os
import re
import time
from datetime import datetime

import pytest
import requests

from payflow.extensions import db
from payflow.models import Payment, Payout
from payflow.webhooks import simulate

from .browser_fixtures import TIMEOUT, browser, live, open_page, stack  # noqa: F401
from .browser_helpers import ApiUser, browser_unavailable, payment_row, screenshot, sign_in, toast
from .webhook_helpers import SECRET

_why_not = browser_unavailable()
if _why_not and os.environ.get("PAYFLOW_TEST_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"the browser tests must run here: {_why_not}")

pytestmark = pytest.mark.skipif(_why_not is not None, reason=_why_not or "")

if _why_not is None:
    from playwright.sync_api import expect
else:  # pragma: no cover - the module is skipped
    expect = None

VISA = "4242 4242 4242 4242"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# --- helpers -------------------------------------------------------------------------------


def deliver(stack, event_type: str, *, payment_id: str | None = None, payout_id: str | None = None, **options) -> None:
    """Post Stripe's signed event about a payment or payout, as `flask webhooks simulate` does."""
    with stack.app.app_context():
        target = {"payment": db.session.get(Payment, payment_id)} if payment_id else {
            "payout": db.session.get(Payout, payout_id)}
        event = simulate.event_for(event_type, **target, **options)
        db.session.remove()  # no transaction (nor SQLite's lock) left open while the server works
    body, headers = simulate.signed(event, SECRET)
    assert requests.post(f"{stack.url}/payments/webhook", data=body, headers=headers, timeout=10).status_code == 200


def refunded_at_stripe(stack, payment_id: str) -> int:
    """What Stripe (the offline one) has refunded of the payment's charge, in minor units."""
    auth = ("sk_test_payflow", "")
    with stack.app.app_context():
        intent_id = db.session.get(Payment, payment_id).stripe_payment_intent_id
        db.session.remove()
    intent = requests.get(f"{stack.stripe_url}/v1/payment_intents/{intent_id}", auth=auth, timeout=10).json()
    charge = requests.get(f"{stack.stripe_url}/v1/charges/{intent['latest_charge']}", auth=auth, timeout=10).json()
    return charge["amount_refunded"]


def paid_payment(brand: ApiUser, creator: ApiUser, amount: int, currency: str, description: str) -> dict:
    payment = brand.create_payment(creator, amount, currency, description)
    paid = brand.pay(payment["id"])
    assert paid.status_code == 200 and paid.json()["status"] == "HELD", paid.text
    return paid.json()


def released_payment(brand: ApiUser, creator: ApiUser, amount: int, currency: str, description: str) -> dict:
    payment = paid_payment(brand, creator, amount, currency, description)
    released = brand.post(f"/payments/{payment['id']}/release")
    assert released.status_code == 200, released.text
    return released.json()


def signed_in(open_page, stack, user: ApiUser, name: str, **page_options):
    page = open_page(name, **page_options)
    sign_in(page, stack.url, user.email, user.password)
    live(page)
    return page


def text_of(locator) -> str:
    """Visible text with no-break spaces made plain (Intl puts them between amounts and symbols)."""
    return re.sub(r"[\u00a0\u202f]", " ", locator.inner_text())


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide in a {page.viewport_size['width']}px viewport"


SMALL_TARGETS = """
() => [...document.querySelectorAll('button, a[href], select, input:not([type=radio]):not([type=hidden]), .segmented label, label.choice')]
  .filter((element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden'
      && !element.closest('.visually-hidden, [hidden]');
  })
  .map((element) => ({ what: element.outerHTML.slice(0, 90), box: element.getBoundingClientRect().toJSON() }))
  .filter(({ box }) => box.width < 43.5 || box.height < 43.5)
"""


def assert_phone_friendly(page) -> None:
    no_horizontal_scroll(page)
    small = page.evaluate(SMALL_TARGETS)
    assert small == [], f"tap targets under 44 px: {small}"


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def assert_toasts_leave_the_header_free(page) -> None:
    toasts = page.locator("#toasts .toast")
    expect(toasts.first).to_be_visible()
    controls = [page.locator(selector).bounding_box() for selector in ("#sign-out", "#account-name")]
    for index in range(toasts.count()):
        box = toasts.nth(index).bounding_box()
        for control in controls:
            assert control is None or not overlaps(box, control), (box, control)


# --- who and how much, and the payment's detail view ---------------------------------------


def test_the_company_sees_what_the_influencer_receives_and_follows_a_payment_in_its_detail_view(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Riley Creator")
    company = signed_in(open_page, stack, brand, "company")
    influencer = signed_in(open_page, stack, creator, "influencer")

    form = company.locator("#payment-form")
    form.get_by_label("Influencer email").fill(creator.email)
    form.get_by_label("Amount").fill("50")
    expect(company.locator("#payment-quote")).to_have_text("The influencer receives $45.00 (platform fee $5.00, 10%).")
    form.get_by_label("Description").fill("Spring campaign")
    form.get_by_role("button", name="Create and pay").click()
    dialog = company.locator("#pay-dialog")
    expect(dialog.locator("#pay-summary")).to_have_text("To Riley Creator · Spring campaign")
    dialog.get_by_label("Card number").fill(VISA)
    dialog.get_by_label("Expiry (MM/YY)").fill("12/34")
    dialog.get_by_label("CVC").fill("123")
    dialog.get_by_role("button", name="Pay $50.00").click()

    row = company.locator("#company-payments li").first
    expect(row).to_have_attribute("data-status", "HELD")
    expect(row).to_contain_text("To Riley Creator")
    expect(row).to_contain_text("Riley will receive $45.00 · platform fee $5.00 (10%)")
    expect(row.get_by_role("button", name="Release the $50.00 payment to Riley Creator", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Refund the $50.00 payment to Riley Creator", exact=True)).to_be_visible()
    held = toast(company, "Payment Held in Escrow")
    expect(held).to_contain_text("$50.00 to Riley Creator · Spring campaign")

    row.get_by_role("link", name="Details of the $50.00 payment to Riley Creator").click()
    payment_id = row.get_attribute("data-payment-id")
    expect(company).to_have_url(re.compile(rf"#/payments/{payment_id}$"))
    detail = company.locator("#detail-view")
    expect(detail.locator("h1")).to_have_text("$50.00 to Riley Creator")
    steps = detail.locator("#timeline li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("Payment of $50.00 to Riley Creator created")
    expect(steps.nth(1)).to_contain_text("Paid: $50.00 held in escrow")
    expect(detail.locator(".facts__item", has_text="Riley receives").locator("dd")).to_have_text("$45.00")

    detail.get_by_role("button", name="Release").click()
    confirm = company.locator("#action-dialog")
    expect(confirm).to_contain_text("Riley receives $45.00 in their wallet (platform fee $5.00)")
    confirm.get_by_role("button", name="Release").click()
    expect(steps).to_have_count(3)
    expect(steps.nth(2)).to_contain_text("Released: $45.00 to Riley Creator, platform fee $5.00")
    expect(steps.nth(2).locator("time")).to_have_attribute("datetime", re.compile(r"Z$"))
    screenshot(company, "detail-company")

    # The influencer's toast links to the same payment, seen from their side.
    released = toast(influencer, "Payment Released")
    expect(released).to_contain_text("$45.00 from Northwind is now available")
    released.get_by_role("link", name="View payment").click()
    side = influencer.locator("#detail-view")
    expect(side.locator("h1")).to_have_text("$50.00 from Northwind")
    expect(side.locator("#timeline li").nth(2)).to_contain_text("Released to you: $45.00 (platform fee $5.00)")
    expect(side.locator(".facts__item", has_text="You receive").locator("dd")).to_have_text("$45.00")
    expect(side.get_by_role("button", name="Release")).to_have_count(0)  # only the company acts on it
    screenshot(influencer, "detail-influencer")
    side.get_by_role("link", name="← All payments").click()
    expect(influencer.locator("#influencer-view")).to_be_visible()
    expect(influencer.locator("#influencer-payments li").first.locator(".amount")).to_have_text("$45.00")


def test_the_companys_rows_say_who_was_paid_and_offer_what_each_state_allows(stack, open_page):
    brand = ApiUser(stack.url, "company", "Acme Studios")
    riley, sam, kai = (ApiUser(stack.url, "influencer", name) for name in ("Riley Creator", "Sam Rivera", "Kai Okafor"))
    pending = brand.create_payment(riley, 12000, "usd", "Product shoot")
    failed = brand.create_payment(riley, 7550, "usd", "Story series")
    assert brand.pay(failed["id"], "4000000000000341").status_code == 402
    released = released_payment(brand, kai, 8000, "usd", "Unboxing video")
    held = paid_payment(brand, sam, 5000, "eur", "Spring campaign")
    refunding = paid_payment(brand, kai, 4000, "usd", "Reel")
    page = signed_in(open_page, stack, brand, "company")

    row = lambda payment: payment_row(page, payment["id"])  # noqa: E731
    expect(row(pending)).to_contain_text("To Riley Creator")
    expect(row(pending)).to_contain_text("Riley will receive $108.00 · platform fee $12.00 (10%)")
    expect(row(pending).get_by_role("button", name="Pay the $120.00 payment to Riley Creator", exact=True)).to_be_visible()
    expect(row(failed)).to_contain_text("Your card was declined.")
    expect(row(failed).get_by_role("button", name="Retry the $75.50 payment to Riley Creator", exact=True)).to_be_visible()
    expect(row(released)).to_contain_text("Kai received $72.00 · platform fee $8.00")
    expect(row(released).get_by_role("button", name="Release")).to_have_count(0)
    expect(row(released).get_by_role("button", name="Refund the $80.00 payment to Kai Okafor", exact=True)).to_be_visible()
    expect(row(held)).to_contain_text("Sam will receive €45.00 · platform fee €5.00 (10%)")
    expect(row(held).get_by_role("button", name="Release the €50.00 payment to Sam Rivera", exact=True)).to_be_visible()
    for payment in (pending, failed, released, held, refunding):
        expect(row(payment).get_by_role("link", name=re.compile(r"^Details of the .+ payment to "))).to_be_visible()

    row(refunding).get_by_role("button", name="Refund").click()
    page.locator("#action-dialog").get_by_role("button", name="Refund").click()
    expect(row(refunding).locator('[data-inflight="refund"]')).to_have_text(
        "Refund of $40.00 requested: waiting for Stripe to confirm it.")
    for dismiss in page.get_by_role("button", name="Dismiss notification").all():
        dismiss.click()
    expect(page.locator("#toasts .toast")).to_have_count(0)
    screenshot(page, "dashboard-company")


def test_the_influencer_sees_balance_statement_and_earnings_and_they_follow_live_updates(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Sam Creator")
    released_payment(brand, creator, 10000, "eur", "Launch video")
    assert creator.post("/payouts", {"amount": 3000, "currency": "eur"}).status_code == 201
    page = signed_in(open_page, stack, creator, "influencer")

    wallet = page.locator('#wallets .wallet[data-currency="eur"]')
    expect(wallet.locator(".wallet__available dd")).to_have_text("€60.00")
    expect(wallet.locator(".wallet__pending dd")).to_have_text("€0.00")
    lines = page.locator("#statement tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Payout to your bank")
    expect(lines.nth(0).locator(".statement__amount")).to_have_text("-€30.00")
    expect(lines.nth(0).locator(".statement__balance")).to_have_text("€60.00")
    expect(lines.nth(1)).to_contain_text("Payment from Northwind released")  # one line, not two legs
    expect(lines.nth(1)).to_contain_text("Launch video · platform fee €10.00")
    expect(lines.nth(1).locator(".statement__amount")).to_have_text("+€90.00")
    expect(lines.nth(1).locator(".statement__balance")).to_have_text("€90.00")

    summary = page.locator("#earnings-summary")
    expect(summary).to_have_text("Released to you in the last 30 days: €90.00")
    today = datetime.now().date().isoformat()  # the browser runs in this machine's zone
    bar = page.locator(f'#earnings-chart rect[data-date="{today}"]')
    expect(bar).to_have_count(1)
    assert "€90.00" in bar.locator("title").text_content()
    expect(page.locator("#earnings-chart rect.chart__bar")).to_have_count(1)
    page.get_by_text("12 months").click()
    expect(summary).to_have_text("Released to you in the last 12 months: €90.00")
    expect(page.locator("#earnings-table tbody tr")).to_have_count(12)
    screenshot(page, "dashboard-influencer")

    # Money moves while the page is open: the statement and the chart follow, without a reload.
    released_payment(brand, creator, 5000, "eur", "Teaser")
    expect(summary).to_have_text("Released to you in the last 12 months: €135.00", timeout=TIMEOUT)
    expect(lines).to_have_count(3)
    expect(lines.nth(0).locator(".statement__amount")).to_have_text("+€45.00")
    expect(lines.nth(0).locator(".statement__balance")).to_have_text("€105.00")
    expect(wallet.locator(".wallet__available dd")).to_have_text("€105.00")


def test_the_statement_filters_by_currency_and_day_and_its_csv_download_has_the_same_lines(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Kim Creator")
    released_payment(brand, creator, 10000, "eur", "Launch, part 1")
    released_payment(brand, creator, 2500, "usd", "=cmd|' /C calc'!A0")
    assert creator.post("/payouts", {"amount": 1000, "currency": "eur"}).status_code == 201
    page = signed_in(open_page, stack, creator, "influencer")
    lines = page.locator("#statement tr")
    expect(lines).to_have_count(3)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    api = page.request.get(f"{stack.url}/wallet/statement?limit=100").json()["items"]
    assert [(row["id"], int(row["amount_minor"]), int(row["balance_minor"])) for row in rows] == [
        (item["id"], item["amount"], item["balance"]) for item in api]
    assert rows[1]["payment_description"].startswith("'=")  # not a formula in a spreadsheet
    assert [row["amount"] for row in rows] == ["-10.00", "22.50", "90.00"]

    page.locator("#statement-currency").select_option("eur")
    expect(lines).to_have_count(2)
    expect(page.locator("#statement-csv")).to_have_attribute("href", "/wallet/statement.csv?currency=eur")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    eur_rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [row["currency"] for row in eur_rows] == ["eur", "eur"]

    # A day range in the reader's calendar: tomorrow onwards has nothing yet.
    tomorrow = datetime.fromtimestamp(time.time() + 86400).date().isoformat()
    page.locator("#statement-from").fill(tomorrow)
    page.locator("#statement-from").dispatch_event("change")
    expect(page.locator('[data-empty-for="statement"]')).to_be_visible()
    expect(page.locator("#statement-csv")).to_have_attribute("href", re.compile(r"from=\d{4}-\d{2}-\d{2}T"))
    screenshot(page, "statement-filtered")


def test_the_companys_payments_csv_has_the_same_payments_as_its_list(stack, open_page):
    brand, first, second = (ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Ana"),
                            ApiUser(stack.url, "influencer", "Bo"))
    released_payment(brand, first, 5000, "usd", "Reel")
    paid_payment(brand, second, 1999, "eur", "Story")
    page = signed_in(open_page, stack, brand, "company")
    expect(page.locator("#company-payments li")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    listed = page.locator("#company-payments li")
    assert [row["id"] for row in rows] == [listed.nth(index).get_attribute("data-payment-id") for index in range(2)]
    assert [(row["influencer"], row["amount"], row["currency"], row["net"]) for row in rows] == [
        ("Bo", "19.99", "eur", "17.99"), ("Ana", "50.00", "usd", "45.00")]

    page.locator("#payments-currency").select_option("usd")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("To Ana")
    expect(page.locator("#payments-csv")).to_have_attribute("href", "/payments.csv?currency=usd")


# --- actions that move money: in flight, sent once --------------------------------------------


def test_a_double_click_on_refund_sends_one_request_with_one_idempotency_key_and_the_row_shows_it_in_flight(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Contoso"), ApiUser(stack.url, "influencer", "Kai Creator")
    payment = paid_payment(brand, creator, 7550, "usd", "Unboxing video")
    page = signed_in(open_page, stack, brand, "company")
    refunds, held = [], []
    page.on("request", lambda request: refunds.append(request) if request.url.endswith("/refund") else None)
    # Stripe confirms a refund by webhook a moment later; the page's refresh of the payment is held
    # here until the row has been looked at, so the in-flight state is seen whatever the timing.
    holding = [True]
    page.route(f"**/payments/{payment['id']}",
               lambda route: held.append(route) if holding and route.request.method == "GET" else route.continue_())

    row = payment_row(page, payment["id"])
    refund = row.get_by_role("button", name="Refund the $75.50 payment to Kai Creator", exact=True)
    refund.dblclick()
    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Amount").fill("10")
    dialog.get_by_role("button", name="Refund").dblclick()
    expect(toast(page, "Refund requested")).to_contain_text("$10.00 of the $75.50 payment to Kai Creator")
    expect(dialog).to_be_hidden()

    assert len(refunds) == 1, [request.url for request in refunds]
    first_key = refunds[0].headers["idempotency-key"]
    assert UUID.match(first_key) and refunds[0].post_data_json == {"amount": 1000}
    # Until Stripe confirms it, the row says so and offers no second refund (nor a release).
    note = row.locator('[data-inflight="refund"]')
    expect(note).to_have_text("Refund of $10.00 requested: waiting for Stripe to confirm it.")
    expect(row.get_by_role("button", name="Refund")).to_have_count(0)
    expect(row.get_by_role("button", name="Release")).to_have_count(0)
    screenshot(page, "refund-requested")

    holding.clear()  # later requests go through at once
    for route in held:
        route.continue_()
    # Stripe's charge.refunded (sent by the offline Stripe) settles it.
    expect(row).to_have_attribute("data-status", "PARTIALLY_REFUNDED", timeout=TIMEOUT)
    expect(note).to_have_count(0)
    expect(row).to_contain_text("$10.00 refunded")
    assert refunded_at_stripe(stack, payment["id"]) == 1000  # one refund reached Stripe

    # Another refund is another action: a new key.
    row.get_by_role("button", name="Refund").click()
    dialog.get_by_role("button", name="Refund").click()
    expect(row).to_have_attribute("data-status", "REFUNDED", timeout=TIMEOUT)
    assert len(refunds) == 2 and refunds[1].headers["idempotency-key"] not in ("", first_key)
    assert refunded_at_stripe(stack, payment["id"]) == 7550


def test_a_refund_whose_answer_was_lost_is_sent_again_with_the_same_idempotency_key(stack, open_page, request):
    request.node.allow_network_errors = True  # the first answer is cut off on purpose
    brand, creator = ApiUser(stack.url, "company", "Contoso"), ApiUser(stack.url, "influencer", "Lee Creator")
    payment = paid_payment(brand, creator, 4000, "usd", "Post")
    page = signed_in(open_page, stack, brand, "company")
    keys = []

    def lose_the_first_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server takes the request and asks Stripe for the refund ...
            route.abort("connectionreset")  # ... and its answer never reaches the page
        else:
            route.continue_()

    page.route("**/refund", lose_the_first_answer)
    payment_row(page, payment["id"]).get_by_role("button", name="Refund").click()
    dialog = page.locator("#action-dialog")
    dialog.get_by_label("Amount").fill("10")
    dialog.get_by_role("button", name="Refund").click()
    expect(dialog.locator(".form-error")).to_have_text("payflow cannot be reached. Check your connection and try again.")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Refund").click()
    expect(dialog).to_be_hidden()
    assert len(keys) == 2 and keys[0] == keys[1] and UUID.match(keys[0])
    # The same key reached Stripe as the same refund: 10.00 refunded once, not twice.
    expect(payment_row(page, payment["id"])).to_have_attribute("data-status", "PARTIALLY_REFUNDED", timeout=TIMEOUT)
    assert refunded_at_stripe(stack, payment["id"]) == 1000


def test_a_payout_is_busy_until_answered_sent_once_and_shows_payout_requested_until_stripe_pays_it(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Jo Creator")
    released_payment(brand, creator, 10000, "eur", "Launch video")
    page = signed_in(open_page, stack, creator, "influencer")
    held = []
    page.route("**/payouts", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())

    page.get_by_role("button", name="Request payout").click()
    dialog = page.locator("#payout-dialog")
    dialog.get_by_label("Amount").fill("40")
    submit = dialog.get_by_role("button", name="Request payout")
    submit.click()
    busy = dialog.locator('button[type="submit"]')
    expect(busy).to_be_disabled()
    expect(busy).to_have_attribute("aria-busy", "true")
    expect(busy).to_have_text("Requesting…")
    busy.dispatch_event("click")  # a second press while the first is on its way
    for _ in range(200):  # the held request reaches the route handler as Playwright dispatches events
        if held:
            break
        page.wait_for_timeout(25)
    assert len(held) == 1
    key = held[0].request.headers["idempotency-key"]
    assert UUID.match(key)
    held[0].continue_()
    expect(dialog).to_be_hidden()

    row = page.locator("#payouts li").first
    expect(row).to_have_attribute("data-status", "PENDING")
    expect(row.locator('[data-inflight="payout"]')).to_have_text("Requested: waiting for Stripe to send it to your bank.")
    expect(row).to_contain_text("Payout requested")
    expect(toast(page, "Payout Requested")).to_contain_text("€40.00 to your bank")
    deliver(stack, "payout.paid", payout_id=row.get_attribute("data-payout-id"))
    expect(row).to_have_attribute("data-status", "COMPLETED")
    expect(row.locator('[data-inflight="payout"]')).to_have_count(0)


def test_errors_are_said_in_plain_words_never_in_stripes(stack, open_page, request):
    request.node.allowed_statuses = (422, 502)  # refused on purpose: by payflow's payout rules, then by Stripe
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Mo Creator")
    released_payment(brand, creator, 5000, "usd", "Reel")  # the platform's own payouts are EUR only offline
    page = signed_in(open_page, stack, creator, "influencer")
    page.get_by_role("button", name="Request payout").click()
    dialog = page.locator("#payout-dialog")
    dialog.get_by_label("Amount").fill("0.50")
    dialog.get_by_role("button", name="Request payout").click()
    expect(dialog.locator(".form-error")).to_have_text(
        "Stripe cannot pay out this amount (it pays out at least $1.00, in amounts it can send).")
    dialog.get_by_label("Amount").fill("10")
    dialog.get_by_role("button", name="Request payout").click()
    expect(dialog.locator(".form-error")).to_have_text(
        "Stripe could not complete this just now. Nothing was charged or moved; try again in a moment.")
    dialog.get_by_role("button", name="Cancel").click()
    row = page.locator("#payouts li").first
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(row).to_contain_text("Stripe could not send this payout. The amount is back in your balance.")
    text = page.locator("body").inner_text()
    assert "Bad request" not in text and "Stripe payout failed" not in text and "invalid_request" not in text


# --- loading states --------------------------------------------------------------------------


def test_lists_say_they_are_loading_until_their_answer_arrives_never_that_they_are_empty(stack, open_page):
    creator = ApiUser(stack.url, "influencer", "New Creator")
    page = open_page("influencer")
    held, released = [], []

    def hold(route):
        if "/payments/stream" in route.request.url or released:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r".*/(payments|payouts|wallet)(/statement|/earnings)?(\?.*)?$"), hold)
    sign_in(page, stack.url, creator.email, creator.password)
    expect(page.locator('[data-loading-for="influencer-payments"]')).to_have_text("Loading payments…")
    expect(page.locator('[data-empty-for="influencer-payments"]')).to_be_hidden()
    expect(page.locator('[data-loading-for="statement"]')).to_be_visible()
    expect(page.locator('[data-empty-for="statement"]')).to_be_hidden()
    expect(page.locator("#earnings-loading")).to_be_visible()
    expect(page.locator("#influencer-payments")).to_have_attribute("aria-busy", "true")
    screenshot(page, "loading")
    released.append(True)  # later requests go through at once
    for route in held:
        route.continue_()
    expect(page.locator('[data-empty-for="influencer-payments"]')).to_have_text("No payments yet.")
    expect(page.locator('[data-loading-for="influencer-payments"]')).to_be_hidden()
    expect(page.locator('[data-empty-for="statement"]')).to_be_visible()
    expect(page.locator("#earnings-empty")).to_be_visible()


# --- the reader's locale ---------------------------------------------------------------------


@pytest.mark.parametrize("locale, balance, line, date, typed, parsed", [
    ("en-US", "€1,111.10", "+€1,111.10", r"[A-Z][a-z]{2} \d{1,2}, \d{4}", "1,234.5", 123450),
    ("de-DE", "1.111,10 €", "+1.111,10 €", r"\d{1,2}\.\d{2}\.\d{4}", "1.234,5", 123450),
])
def test_money_and_dates_are_shown_and_read_in_the_readers_locale(stack, open_page, locale, balance, line, date, typed, parsed):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Ines Creator")
    released_payment(brand, creator, 123456, "eur", "Campaign")  # fee 123.46 (rounded up), net 1,111.10
    released_payment(brand, creator, 5000, "jpy", "Campaign")  # JPY has no minor unit: 4,500 yen
    page = signed_in(open_page, stack, creator, f"influencer-{locale}", locale=locale, timezone_id="Europe/Berlin")
    wallet = page.locator('#wallets .wallet[data-currency="eur"]')
    expect(wallet.locator(".wallet__available dd")).to_have_text(re.compile(r".+"))
    assert text_of(wallet.locator(".wallet__available dd")) == balance
    assert text_of(page.locator('#wallets .wallet[data-currency="jpy"] .wallet__available dd')) in ("¥4,500", "4.500 ¥")
    row = page.locator('#statement tr[data-type="release"]').last
    expect(row).to_be_visible()
    assert text_of(row.locator(".statement__amount")) == line
    assert re.search(date, row.locator("time").inner_text()), row.locator("time").inner_text()
    result = page.evaluate(f"(async () => (await import('/static/dashboard/money.js')).parseMoney({typed!r}, 'eur'))()")
    assert result == parsed
    screenshot(page, f"influencer-{locale}")


@pytest.mark.parametrize("locale, typed", [
    ("en-US", {"1,000": 100000, "1,5": 150, "0.05": 5, "12": 1200, "123,456.78": 12345678}),
    ("de-DE", {"1.000": 100000, "1,5": 150, "0,05": 5, "12": 1200, "123.456,78": 12345678}),
])
def test_amounts_typed_in_the_readers_locale_are_read_exactly_and_nonsense_is_refused(stack, open_page, locale, typed):
    page = open_page(f"reader-{locale}", locale=locale)
    page.goto(f"{stack.url}/")
    expect(page.locator("#login-form")).to_be_visible()
    read = page.evaluate("""async (texts) => {
      const { parseMoney } = await import('/static/dashboard/money.js');
      const attempt = (text, currency) => { try { return parseMoney(text, currency); } catch (error) { return error.message; } };
      return {
        eur: Object.fromEntries(texts.map((text) => [text, attempt(text, 'eur')])),
        jpy: [attempt('5000', 'jpy'), attempt('1.5', 'jpy')],
        refused: ['', 'abc', '-5', '0', '1.2.3,4,5', '12.', '1000000'].map((text) => attempt(text, 'eur')),
      };
    }""", list(typed))
    assert read["eur"] == typed
    assert read["jpy"][0] == 5000 and read["jpy"][1].startswith("Enter a whole number of JPY")
    assert all(isinstance(message, str) and message.endswith(".") for message in read["refused"]), read["refused"]


# --- phones ----------------------------------------------------------------------------------


def test_at_phone_width_nothing_scrolls_sideways_every_target_is_44px_and_toasts_leave_the_header_free(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Globex Corporation International"), ApiUser(
        stack.url, "influencer", "Yuki Creator with a rather long name")
    released_payment(brand, creator, 10000, "eur", "A description long enough to wrap on a phone screen " * 2)
    assert creator.post("/payouts", {"amount": 1000, "currency": "eur"}).status_code == 201

    company = signed_in(open_page, stack, brand, "company-375px", width=375, height=740)
    expect(company.locator("#company-payments li")).to_have_count(1)
    assert_phone_friendly(company)
    screenshot(company, "company-dashboard-375px")
    company.locator("#company-payments li").first.get_by_role("link", name=re.compile("^Details of")).click()
    expect(company.locator("#timeline li")).to_have_count(3)
    assert_phone_friendly(company)
    screenshot(company, "detail-375px")

    influencer = signed_in(open_page, stack, creator, "influencer-375px", width=375, height=740)
    expect(influencer.locator("#statement tr")).to_have_count(2)
    expect(influencer.locator("#earnings-chart rect.chart__bar")).to_have_count(1)
    assert_phone_friendly(influencer)
    screenshot(influencer, "influencer-dashboard-375px")

    paid_payment(brand, creator, 2000, "eur", "Story")  # a toast arrives on both phones
    for page in (company, influencer):
        expect(toast(page, "Payment").first).to_be_visible()
        assert_toasts_leave_the_header_free(page)
        assert_phone_friendly(page)
    influencer.get_by_role("button", name="Request payout").click()
    assert_phone_friendly(influencer)
    influencer.locator("#payout-dialog").get_by_role("button", name="Cancel").click()


# The Notification API as a hidden tab with permission sees it: each notification is kept, so
# the test can click it as the person would.
NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  constructor(title, options) { this.title = title; this.body = options && options.body; window.__notes.push(this); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
  close() {}
};
Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get() { return "hidden"; } });
"""


def test_a_browser_notification_names_amount_and_party_and_opens_its_payment(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Noa Creator")
    page = signed_in(open_page, stack, creator, "influencer", init_scripts=[NOTIFICATIONS])
    payment = paid_payment(brand, creator, 2000, "usd", "Teaser")
    page.wait_for_function("() => window.__notes.length > 0", timeout=TIMEOUT)
    assert page.evaluate("window.__notes[0].body") == "Payment Secured: $18.00 for you from Northwind · Teaser"
    page.evaluate("window.__notes[0].onclick()")
    expect(page).to_have_url(re.compile(rf"#/payments/{payment['id']}$"))
    expect(page.locator("#detail-view h1")).to_have_text("$20.00 from Northwind")


def test_toasts_never_cover_the_headers_controls_on_a_wide_screen(stack, open_page):
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Wide Creator")
    page = signed_in(open_page, stack, creator, "influencer")
    for number in range(3):
        paid_payment(brand, creator, 1000 + number, "usd", f"Post {number}")
    expect(page.locator("#toasts .toast")).to_have_count(3)
    assert_toasts_leave_the_header_free(page)
    page.get_by_role("button", name="Sign out").click()  # reachable while the toasts are up
    expect(page.locator("#login-form")).to_be_visible()
