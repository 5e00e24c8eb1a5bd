"""The dashboard in a real browser against the real product.

Chromium (Playwright) drives ``/`` served by gunicorn with gevent workers, with an RQ
worker applying the webhooks that localstripe signs and sends, PostgreSQL and Redis:
the company and the influencer each in a browser context of their own, as two people
on two machines. Screenshots of each scenario go to ``test-artifacts/``.
"""
from __future__ import annotations

import os
import time

import pytest
import requests

from payflow import payments
from payflow.extensions import db, redis_client
from payflow.models import Payment, Payout, User
from payflow.stream import history
from payflow.stripe_api import gateway
from payflow.webhooks import simulate

from .browser_fixtures import DEMO_COMPANY, DEMO_INFLUENCER, DEMO_PASSWORD, TIMEOUT, browser, open_page, stack  # noqa: F401
from .browser_fixtures import live as _live
from .browser_helpers import ApiUser, browser_unavailable, payment_row, screenshot, sign_in, toast

_why_not = browser_unavailable()
if _why_not and os.environ.get("PAYFLOW_TEST_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"the browser tests must run here: {_why_not}")

pytestmark = [pytest.mark.skipif(_why_not is not None, reason=_why_not or "")]

if _why_not is None:
    from playwright.sync_api import expect
else:  # pragma: no cover - the module is skipped
    expect = None

VISA, DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0341"

# Records when each toast enters and leaves the page (for the auto-dismiss timing).
TOAST_LOG = """
window.__toasts = [];
new MutationObserver((records) => {
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.classList && node.classList.contains("toast")) {
        node.dataset.logId = String(window.__toasts.length);
        window.__toasts.push({ text: node.textContent, added: performance.now(), removed: null });
      }
    }
    for (const node of record.removedNodes) {
      if (node.classList && node.classList.contains("toast")) window.__toasts[Number(node.dataset.logId)].removed = performance.now();
    }
  }
}).observe(document, { childList: true, subtree: true });
"""

# A stand-in for the Notification API that records what the page does with it, and a
# switch to make the page believe it is hidden (a background tab).
NOTIFICATION_PROBE = """
window.__notifications = [];
window.__permissionRequests = 0;
window.__permission = "default";
window.__hidden = false;
window.Notification = class {
  constructor(title, options) { window.__notifications.push({ title, body: options && options.body }); }
  static get permission() { return window.__permission; }
  static requestPermission() { window.__permissionRequests += 1; window.__permission = "granted"; return Promise.resolve("granted"); }
  close() {}
};
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
});
"""


def _create_payment_in_form(page, email: str, amount: str, currency: str, description: str) -> None:
    form = page.locator("#payment-form")
    form.get_by_label("Influencer email").fill(email)
    form.get_by_label("Amount").fill(amount)
    form.get_by_label("Currency").select_option(currency)
    form.get_by_label("Description").fill(description)
    form.get_by_role("button", name="Create and pay").click()
    expect(page.locator("#pay-dialog")).to_be_visible()


def _pay_in_dialog(page, card: str, button_name: str) -> None:
    dialog = page.locator("#pay-dialog")
    dialog.get_by_label("Card number").fill(card)
    dialog.get_by_label("Expiry (MM/YY)").fill("12/34")
    dialog.get_by_label("CVC").fill("123")
    dialog.get_by_role("button", name=button_name).click()
    expect(dialog).to_be_hidden()


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"the page is {width}px wide in a {viewport}px viewport"


# --- the three scenarios -------------------------------------------------------------------


def test_a_card_payment_shows_held_in_escrow_to_the_company_and_secured_to_the_influencer(stack, open_page):
    company = open_page("company")
    influencer = open_page("influencer", width=375, height=812, init_scripts=[NOTIFICATION_PROBE])
    sign_in(company, stack.url, DEMO_COMPANY, DEMO_PASSWORD)
    sign_in(influencer, stack.url, DEMO_INFLUENCER, DEMO_PASSWORD)
    _live(company)
    _live(influencer)
    expect(influencer.locator("#wallets .wallet")).to_have_count(0)

    _create_payment_in_form(company, DEMO_INFLUENCER, "50", "usd", "Spring campaign: 3 videos")
    row = company.locator("#company-payments li").first
    expect(row).to_contain_text("$50.00")
    expect(row).to_contain_text("Awaiting payment")
    _pay_in_dialog(company, VISA, "Pay $50.00")

    expect(toast(company, "Payment Held in Escrow")).to_be_visible()
    expect(row).to_have_attribute("data-status", "HELD")
    expect(row.get_by_role("button", name="Release")).to_be_visible()
    expect(toast(influencer, "Payment Secured")).to_be_visible()
    wallet = influencer.locator('#wallets .wallet[data-currency="usd"]')
    expect(wallet.locator(".wallet__pending dd")).to_have_text("$45.00")  # 50.00 less the 10% fee
    expect(wallet.locator(".wallet__available dd")).to_have_text("$0.00")
    incoming = influencer.locator("#influencer-payments li").first
    expect(incoming).to_contain_text("Held in escrow")
    expect(incoming.locator(".amount")).to_have_text("$45.00")  # what the influencer receives
    expect(incoming).to_contain_text("From Acme Studios")

    # A visible page gets toasts only; the permission was never asked for by the page itself.
    assert influencer.evaluate("window.__permissionRequests") == 0
    assert influencer.evaluate("window.__notifications.length") == 0
    _no_horizontal_scroll(influencer)
    screenshot(company, "a-payment-success-company")
    screenshot(influencer, "a-payment-success-influencer-375px")


def test_an_influencer_requests_a_payout_and_watches_it_complete(stack, open_page, request):
    request.node.allowed_statuses = (422,)  # the payout over the balance, refused on purpose
    brand, creator = ApiUser(stack.url, "company", "Northwind"), ApiUser(stack.url, "influencer", "Sam Creator")
    paid = brand.create_payment(creator, 10000, "eur", "Launch video")  # localstripe pays out in EUR only
    assert brand.pay(paid["id"]).json()["status"] == "HELD"

    company, influencer = open_page("company"), open_page("influencer")
    sign_in(company, stack.url, brand.email, brand.password)
    sign_in(influencer, stack.url, creator.email, creator.password)
    _live(company)
    _live(influencer)
    wallet = influencer.locator('#wallets .wallet[data-currency="eur"]')
    expect(wallet.locator(".wallet__pending dd")).to_have_text("€90.00")

    # The company releases the escrow: the influencer's wallet changes while they watch.
    payment_row(company, paid["id"]).get_by_role("button", name="Release").click()
    company.locator("#action-dialog").get_by_role("button", name="Release").click()
    expect(toast(company, "Payment Released")).to_be_visible()
    expect(toast(influencer, "Payment Released")).to_contain_text("€90.00 from Northwind is now available")
    expect(wallet.locator(".wallet__available dd")).to_have_text("€90.00")
    expect(wallet.locator(".wallet__pending dd")).to_have_text("€0.00")

    influencer.get_by_role("button", name="Request payout").click()
    dialog = influencer.locator("#payout-dialog")
    expect(dialog.locator("#payout-available")).to_have_text("Available: €90.00")
    dialog.get_by_label("Amount").fill("120")
    dialog.get_by_role("button", name="Request payout").click()
    expect(dialog.locator(".form-error")).to_have_text("That is more than your available balance of €90.00.")
    dialog.get_by_label("Amount").fill("40")
    dialog.get_by_role("button", name="Request payout").click()
    expect(dialog).to_be_hidden()

    expect(toast(influencer, "Payout Requested")).to_contain_text("€40.00 to your bank")
    expect(wallet.locator(".wallet__available dd")).to_have_text("€50.00")
    row = influencer.locator("#payouts li").first
    expect(row).to_have_attribute("data-status", "PENDING")
    expect(row).to_contain_text("€40.00")
    expect(row).to_contain_text("Payout requested")
    payout_id = row.get_attribute("data-payout-id")

    # Stripe reports the payout paid (a signed payout.paid, as `flask webhooks simulate` sends it).
    with stack.app.app_context():
        event = simulate.event_for("payout.paid", payout=db.session.get(Payout, payout_id))
        db.session.remove()
    body, headers = simulate.signed(event, "whsec_test_payflow")
    assert requests.post(f"{stack.url}/payments/webhook", data=body, headers=headers, timeout=10).status_code == 200
    expect(toast(influencer, "Payout Completed")).to_contain_text("€40.00 to your bank")
    expect(row).to_have_attribute("data-status", "COMPLETED")
    expect(row).to_contain_text("Completed")
    expect(wallet.locator(".wallet__available dd")).to_have_text("€50.00")
    screenshot(influencer, "b-payout-completed-influencer")


def test_a_declined_card_fails_the_payment_and_a_retry_with_another_card_succeeds(stack, open_page, request):
    request.node.allowed_statuses = (402,)  # the declined card's answer, logged by Chromium
    creator = ApiUser(stack.url, "influencer", "Kai Creator")
    brand = ApiUser(stack.url, "company", "Contoso")
    company, influencer = open_page("company"), open_page("influencer")
    sign_in(company, stack.url, brand.email, brand.password)
    sign_in(influencer, stack.url, creator.email, creator.password)
    _live(company)
    _live(influencer)

    _create_payment_in_form(company, creator.email, "75.50", "usd", "Unboxing video")
    _pay_in_dialog(company, DECLINED, "Pay $75.50")
    failure = toast(company, "Payment Failed")
    expect(failure).to_be_visible()
    expect(failure).to_have_class("toast toast--error")
    expect(failure).to_contain_text("declined")
    expect(toast(influencer, "Payment Failed")).to_be_visible()
    row = company.locator("#company-payments li").first
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(row).to_contain_text("declined")
    screenshot(company, "c-payment-failed-company")

    row.get_by_role("button", name="Retry").click()
    _pay_in_dialog(company, VISA, "Pay $75.50")
    expect(toast(company, "Payment Held in Escrow")).to_be_visible()
    expect(row).to_have_attribute("data-status", "HELD")
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)
    expect(toast(influencer, "Payment Secured")).to_be_visible()
    expect(influencer.locator('#wallets .wallet[data-currency="usd"] .wallet__pending dd')).to_have_text("$67.95")
    screenshot(company, "c-payment-retried-company")

    # And a partial refund: requested from the dashboard, applied when Stripe confirms it.
    row.get_by_role("button", name="Refund").click()
    dialog = company.locator("#action-dialog")
    dialog.get_by_label("Amount").fill("10")
    dialog.get_by_role("button", name="Refund").click()
    expect(toast(company, "Refund requested")).to_contain_text("$10.00 of the $75.50 payment to Kai Creator")
    payment_id = row.get_attribute("data-payment-id")
    with stack.app.app_context():
        event = simulate.event_for("charge.refunded", payment=db.session.get(Payment, payment_id), amount=1000)
        db.session.remove()
    body, headers = simulate.signed(event, "whsec_test_payflow")
    assert requests.post(f"{stack.url}/payments/webhook", data=body, headers=headers, timeout=10).status_code == 200
    expect(toast(company, "Payment Partially Refunded")).to_contain_text("$10.00 of the $75.50 payment to Kai Creator refunded to you")
    expect(row).to_have_attribute("data-status", "PARTIALLY_REFUNDED")
    expect(row).to_contain_text("$10.00 refunded")
    expect(influencer.locator('#wallets .wallet[data-currency="usd"] .wallet__pending dd')).to_have_text("$58.95")


# --- toasts, notifications, reconnection, small screens --------------------------------------


def test_toasts_stack_without_overlap_dismiss_after_five_seconds_pause_on_hover_and_close_on_click(stack, open_page):
    brand, creator = ApiUser(stack.url, "company"), ApiUser(stack.url, "influencer")
    page = open_page("influencer", init_scripts=[TOAST_LOG])
    sign_in(page, stack.url, creator.email, creator.password)
    _live(page)
    region = page.locator("#toasts")
    expect(region).to_have_attribute("role", "status")
    expect(region).to_have_attribute("aria-live", "polite")

    for number in range(3):
        created = brand.create_payment(creator, 1000 * (number + 1), "usd", f"Post {number + 1}")
        assert brand.pay(created["id"]).status_code == 200
    toasts = page.locator("#toasts .toast")
    expect(toasts).to_have_count(3)

    # Three toasts, one under the other, none over another; each says its kind in words too.
    boxes = [toasts.nth(index).bounding_box() for index in range(3)]
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper["y"] + upper["height"] <= lower["y"] + 0.5, boxes
    for index in range(3):
        item = toasts.nth(index)
        expect(item).to_have_class("toast toast--success")
        expect(item.locator(".toast__title")).to_have_text("Success: Payment Secured")  # the kind in words too
        expect(item.get_by_role("button", name="Dismiss notification")).to_be_visible()
    screenshot(page, "toasts-stacked")

    newest, middle, oldest = page.evaluate("[...document.querySelectorAll('#toasts .toast')].map((t) => Number(t.dataset.logId))")
    by_log = lambda log_id: page.locator(f'#toasts .toast[data-log-id="{log_id}"]')  # noqa: E731
    removed = lambda log_id: f"() => window.__toasts[{log_id}].removed !== null"  # noqa: E731

    by_log(middle).get_by_role("button", name="Dismiss notification").click()
    expect(by_log(middle)).to_have_count(0, timeout=1000)  # at once (after its 0.2 s exit)
    by_log(newest).hover()  # paused while the pointer is on it

    # The untouched toast goes by itself after 5 s (plus its 0.2 s exit animation).
    page.wait_for_function(removed(oldest), timeout=8000)
    lifetime = page.evaluate(f"window.__toasts[{oldest}].removed - window.__toasts[{oldest}].added")
    assert 4800 <= lifetime <= 6200, lifetime

    # The hovered one outlives its 5 s, and goes once the pointer has left it.
    page.wait_for_function(f"() => performance.now() - window.__toasts[{newest}].added > 5800", timeout=8000)
    assert page.evaluate(f"window.__toasts[{newest}].removed") is None
    page.mouse.move(5, page.viewport_size["height"] - 5)
    page.wait_for_function(removed(newest), timeout=8000)
    expect(toasts).to_have_count(0)


def test_browser_notifications_need_a_click_to_ask_and_appear_only_for_a_hidden_tab(stack, open_page):
    brand, creator = ApiUser(stack.url, "company"), ApiUser(stack.url, "influencer")
    page = open_page("influencer", init_scripts=[NOTIFICATION_PROBE])
    sign_in(page, stack.url, creator.email, creator.password)
    _live(page)
    assert page.evaluate("window.__permissionRequests") == 0  # never asked on load

    enable = page.get_by_role("button", name="Enable notifications")
    enable.click()
    expect(enable).to_be_hidden()
    assert page.evaluate("window.__permissionRequests") == 1

    page.evaluate("window.__hidden = true")
    first = brand.create_payment(creator, 2000, "usd", "Hidden tab")
    brand.pay(first["id"])
    page.wait_for_function("() => window.__notifications.length > 0", timeout=TIMEOUT)
    assert page.evaluate("window.__notifications[0]") == {
        "title": "payflow", "body": "Payment Secured: $18.00 for you from Test company · Hidden tab"}

    page.evaluate("window.__hidden = false; window.__notifications = []")
    second = brand.create_payment(creator, 3000, "usd", "Visible tab")
    brand.pay(second["id"])
    expect(page.locator("#toasts .toast", has_text="Payment Secured")).to_have_count(2)
    assert page.evaluate("window.__notifications.length") == 0


def test_the_live_indicator_reconnects_after_a_server_restart_and_replays_what_was_missed(stack, open_page, request):
    request.node.allow_network_errors = True  # the server is away for a moment, on purpose
    brand, creator = ApiUser(stack.url, "company"), ApiUser(stack.url, "influencer")
    page = open_page("influencer", init_scripts=[TOAST_LOG])
    secured = "() => window.__toasts.filter((t) => t.text.includes('Payment Secured')).length"
    streams = []
    page.on("request", lambda req: streams.append(req.url) if "/payments/stream" in req.url else None)
    sign_in(page, stack.url, creator.email, creator.password)
    _live(page)
    before = brand.create_payment(creator, 1000, "usd", "Before the restart")
    brand.pay(before["id"])
    page.wait_for_function(f"() => ({secured})() === 1")
    during = brand.create_payment(creator, 2000, "usd", "During the restart")

    stack.server.stop()
    expect(page.locator("#live-indicator")).to_have_text("Reconnecting…", timeout=10_000)
    screenshot(page, "reconnecting")

    # While the web process is away the money still moves (here: confirmed from this process,
    # as a worker applying a webhook would); its events wait in the stream history.
    with stack.app.app_context():
        method = gateway().create_test_payment_method("4242424242424242", 12, 2034, "123").id
        company = db.session.get(User, brand.id)
        assert payments.confirm_payment(company, during["id"], method).status == "HELD"
        db.session.remove()

    stack.server.start()
    _live(page)
    page.wait_for_function(f"() => ({secured})() === 2", timeout=TIMEOUT)  # replayed, not refetched
    expect(page.locator('#wallets .wallet[data-currency="usd"] .wallet__pending dd')).to_have_text("$27.00")
    assert any("lastEventId=" in url for url in streams[1:]), streams

    # Away again, and this time the history it would resume from is gone (Redis lost it, or it
    # was trimmed): the server answers "resync" and the page refetches its state instead.
    lost = brand.create_payment(creator, 3000, "usd", "While the history was lost")
    stack.server.stop()
    expect(page.locator("#live-indicator")).to_have_text("Reconnecting…", timeout=10_000)
    with stack.app.app_context():
        redis_client.client.delete(history.stream_key(creator.id))
        method = gateway().create_test_payment_method("4242424242424242", 12, 2034, "123").id
        assert payments.confirm_payment(db.session.get(User, brand.id), lost["id"], method).status == "HELD"
        db.session.remove()
    stack.server.start()
    _live(page)
    expect(page.locator('#wallets .wallet[data-currency="usd"] .wallet__pending dd')).to_have_text("$54.00")
    expect(page.locator("#influencer-payments li")).to_have_count(3)
    assert page.evaluate(secured) == 2  # refetched, not replayed: no toast for what was lost


def test_the_dashboard_fits_a_phone_screen_and_shows_money_in_its_currency(stack, open_page):
    creator = ApiUser(stack.url, "influencer", "Yuki Creator")
    page = open_page("company", width=375, height=740)
    page.goto(f"{stack.url}/")
    expect(page.locator("#login-form")).to_be_visible()
    _no_horizontal_scroll(page)
    screenshot(page, "sign-in-375px")

    form = page.locator("#register-form")
    form.get_by_label("Name").fill("Globex Corporation International Holdings")
    form.get_by_label("Email").fill(f"globex-{time.time_ns()}@browser.test")
    form.get_by_label("Password").fill("a long enough password")
    form.get_by_label("a company paying creators").check()
    form.get_by_role("button", name="Create account").click()
    _live(page)

    _create_payment_in_form(page, creator.email, "5000", "jpy", "A description long enough to wrap on a phone screen " * 3)
    expect(page.locator("#pay-dialog h2")).to_have_text("Pay ¥5,000")
    _no_horizontal_scroll(page)
    _pay_in_dialog(page, VISA, "Pay ¥5,000")
    expect(toast(page, "Payment Held in Escrow")).to_be_visible()
    expect(page.locator("#company-payments li").first).to_contain_text("¥5,000")
    _no_horizontal_scroll(page)
    screenshot(page, "company-375px")

    module = "await import('/static/dashboard/money.js')"
    assert page.evaluate(f"(async () => {{ const m = {module}; return [m.formatMoney(4500, 'usd'), m.formatMoney(500, 'jpy'), "
                         "m.formatMoney(-123456, 'eur'), m.parseMoney('45.5', 'usd'), m.parseMoney('1000', 'jpy')]; })()") == [
        "$45.00", "¥500", "-€1,234.56", 4550, 1000]
    assert page.evaluate(f"(async () => {{ const m = {module}; try {{ m.parseMoney('1.5', 'jpy'); return 'accepted'; }} "
                         "catch (error) { return error.message; } })()").startswith("Enter a whole number of JPY")


CLIENT_PROBE = """
async () => {
  const { createPaymentClient } = await import("/static/payflow-client.js");
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const sources = [];
  class FakeEventSource {
    constructor(url, options) { Object.assign(this, { url, options, listeners: {}, closed: false }); sources.push(this); }
    addEventListener(name, callback) { (this.listeners[name] ||= []).push(callback); }
    close() { this.closed = true; }
    emit(name, data, id = "") { for (const callback of this.listeners[name] || []) callback({ data: JSON.stringify(data), lastEventId: id }); }
  }
  let refreshAnswer = 200;
  const refreshes = [];
  const fakeFetch = async (url, init) => {
    refreshes.push({ url, method: init.method, csrf: init.headers["X-CSRF-TOKEN"], credentials: init.credentials });
    if (refreshAnswer === 0) throw new TypeError("Failed to fetch");
    return { ok: refreshAnswer === 200, status: refreshAnswer };
  };
  const seen = { states: [], payments: [], resyncs: [], errors: [] };
  const client = createPaymentClient({
    EventSource: FakeEventSource, fetch: fakeFetch, initialDelay: 10, maxDelay: 40,
    csrfToken: (name) => (name === "csrf_refresh_token" ? "csrf-refresh-value" : null),
  });
  client.on("state", (state) => seen.states.push(state));
  const unsubscribe = client.on("payment:update", (data) => seen.payments.push(data.paymentId));
  client.on("resync", (data) => seen.resyncs.push(data.reason));
  client.on("error", (data) => seen.errors.push(data.reason));
  await wait(0);
  const result = { firstUrl: sources[0].url, firstState: client.state };

  sources[0].onopen();
  result.connected = client.connected;
  sources[0].emit("payment:update", { paymentId: "pay_1", status: "HELD" }, "1700000000000-0");
  result.latest = client.paymentUpdate && client.paymentUpdate.paymentId;
  client.clearPaymentUpdate();
  result.cleared = client.paymentUpdate;

  sources[0].onerror();  // the server ended the stream (token expiry, deploy)
  result.closedOld = sources[0].closed;
  result.stateAfterError = client.state;
  await wait(60);
  result.secondUrl = sources[1] && sources[1].url;
  result.refreshBeforeSecond = refreshes.slice();

  refreshAnswer = 0;  // the server is away: refreshes fail, no EventSource is opened
  sources[1].onerror();
  await wait(200);
  result.sourcesWhileAway = sources.length;
  result.refreshAttemptsWhileAway = refreshes.length - 1;
  refreshAnswer = 200;
  await wait(120);
  result.sourcesAfterReturn = sources.length;
  sources[2].onopen();
  sources[2].emit("resync", { reason: "the last event id is no longer in the history" });
  unsubscribe();
  sources[2].emit("payment:update", { paymentId: "pay_2", status: "FAILED" }, "1700000000001-0");
  result.lastEventId = client.lastEventId;

  refreshAnswer = 401;  // the session is over: stop, and say so
  sources[2].onerror();
  await wait(120);
  result.finalState = client.state;
  result.sourcesAtEnd = sources.length;

  const crossOrigin = createPaymentClient({ baseUrl: "https://api.example.test/", EventSource: FakeEventSource, fetch: fakeFetch });
  await wait(0);
  result.crossOrigin = { url: sources[sources.length - 1].url, options: sources[sources.length - 1].options };
  crossOrigin.close();
  return { ...result, ...seen };
}
"""


def test_the_client_library_resumes_from_its_last_id_refreshes_backs_off_and_stops_when_signed_out(stack, open_page):
    page = open_page("client")
    page.goto(f"{stack.url}/")
    expect(page.locator("#login-form")).to_be_visible()
    result = page.evaluate(CLIENT_PROBE)

    assert result["firstUrl"] == "/payments/stream" and result["firstState"] == "connecting"
    assert result["connected"] is True
    assert (result["latest"], result["cleared"]) == ("pay_1", None)
    assert result["closedOld"] is True and result["stateAfterError"] == "reconnecting"
    assert result["refreshBeforeSecond"] == [
        {"url": "/auth/refresh", "method": "POST", "csrf": "csrf-refresh-value", "credentials": "same-origin"}]
    assert result["secondUrl"] == "/payments/stream?lastEventId=1700000000000-0"
    assert result["sourcesWhileAway"] == 2 and result["refreshAttemptsWhileAway"] >= 3  # backing off, capped at 40 ms
    assert result["sourcesAfterReturn"] == 3
    assert result["resyncs"] == ["the last event id is no longer in the history"]
    assert result["payments"] == ["pay_1"]  # unsubscribed before pay_2
    assert result["lastEventId"] == "1700000000001-0"
    assert result["finalState"] == "closed" and result["errors"] == ["unauthorized"] and result["sourcesAtEnd"] == 3
    assert result["states"] == ["live", "reconnecting", "live", "reconnecting", "closed"]
    assert result["crossOrigin"] == {"url": "https://api.example.test/payments/stream", "options": {"withCredentials": True}}
