"""Fixtures of the browser tests: the real product once per module, Chromium, and pages that fail on errors.

``stack`` runs gunicorn (gevent workers) and an RQ worker on the test's database and Redis,
with localstripe sending its signed webhooks to it and the demo accounts seeded; ``browser``
is Debian's Chromium driven by Playwright; ``open_page(name, ...)`` gives a page in a context
of its own and, after the test, fails it on any JavaScript or console error.
"""
from __future__ import annotations

import pytest

import devstack
from payflow.extensions import db

from .browser_helpers import CHROMIUM, CHROMIUM_ARGS, PageWatch, browser_unavailable, register_webhooks
from .services import process_environment

if browser_unavailable() is None:
    from playwright.sync_api import expect, sync_playwright
else:  # pragma: no cover - the browser tests are skipped
    expect = sync_playwright = None

DEMO_COMPANY, DEMO_INFLUENCER, DEMO_PASSWORD = "company@demo.payflow.dev", "influencer@demo.payflow.dev", "payflow-demo"
TIMEOUT = 15_000  # ms, for anything that crosses the server, Redis and the stream


# --- the product, once for the module ------------------------------------------------------


class Stack(devstack.Stack):
    """gunicorn and an RQ worker on the session's database, Redis and offline Stripe."""

    def __init__(self, app, database_url: str, redis_url: str, stripe_url: str):
        # No STRIPE_PUBLISHABLE_KEY: the dashboard uses the test-mode card form, not Stripe.js.
        super().__init__(process_environment(database_url, redis_url, stripe_url), database_url=database_url,
                         redis_url=redis_url, stripe_url=stripe_url)
        self.app = app
        self.server = self.webs[0]  # a test may stop it and start it again on the same port
        self.worker = self.workers[0]
        self.url = self.server.url
        self.stripe_url = stripe_url  # the offline Stripe, to check what reached "Stripe"


@pytest.fixture(scope="module")
def stack(migrated_app, database_url, redis_server, localstripe):
    result = migrated_app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    with migrated_app.app_context():
        db.session.remove()
    product = Stack(migrated_app, database_url, redis_server.url, localstripe.url)
    try:
        register_webhooks(localstripe.url, product.url)
        yield product
    finally:
        product.close()


@pytest.fixture(scope="module")
def browser(stack):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser, stack, request):
    """``open_page(name, width=..., height=..., init_scripts=[...])`` → a page in a context of its own.

    After the test, every page must have had no JavaScript error and no console error
    (resource errors for the answers the test expects are named by the test with
    ``request.node.allowed_statuses`` / ``allow_network_errors``)."""
    contexts, watches = [], []
    failures_before = request.session.testsfailed

    def make(name: str, width: int = 1280, height: int = 900, init_scripts=(), permissions=(), locale: str = "en-US",
             timezone_id: str | None = None):
        context = browser.new_context(viewport={"width": width, "height": height}, permissions=list(permissions),
                                      locale=locale, timezone_id=timezone_id)
        context.set_default_timeout(TIMEOUT)
        for script in init_scripts:
            context.add_init_script(script)
        page = context.new_page()
        contexts.append(context)
        watches.append(PageWatch(page, name))
        return page

    yield make
    allowed = getattr(request.node, "allowed_statuses", ())
    network = getattr(request.node, "allow_network_errors", False)
    problems = [problem for watch in watches for problem in watch.problems(allowed, network)]
    for context in contexts:
        context.close()
    if request.session.testsfailed > failures_before:  # the test failed: say what the servers said
        print(stack.log_text())
    assert not problems, "\n".join(problems)


def live(page):
    """Wait until the page's stream is open."""
    expect(page.locator("#live-indicator")).to_have_text("Live", timeout=TIMEOUT)
