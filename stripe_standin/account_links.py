"""Account Links (https://docs.stripe.com/api/account_links) and the one-click onboarding page they open.

``POST /v1/account_links`` answers ``{object: "account_link", created, expires_at, url}``; the
url opens a page on the stand-in standing in for Stripe's hosted onboarding. As with Stripe, a
link lasts five minutes and serves once: opening it again, or after it expired, redirects to
``refresh_url`` (where the platform makes a fresh link). The page's "Complete onboarding"
button completes the account's onboarding (see ``accounts.complete_onboarding``) and redirects
to ``return_url``; "Leave without completing" redirects there with nothing changed, as a person
closing Stripe's form would.
"""
from __future__ import annotations

import html
import re
import secrets
import time

from aiohttp import web

from . import accounts
from .context import runtime
from .errors import parameter_invalid
from .params import Params, from_request
from .responses import json_response
from .runtime import Runtime

LIFETIME_SECONDS = 300
TYPES = ("account_onboarding", "account_update")
PAGE_PATH = "/setup/e/{account}/{token}"


def _url(params: Params, name: str) -> str:
    value = params.string(name, required=True)
    if not re.match(r"^https?://", value):
        raise parameter_invalid(name, f"Invalid URL: {value}. URLs must begin with http:// or https://.",
                                code="url_invalid")
    return value


def create(rt: Runtime, params: Params, base_url: str) -> dict:
    """``POST /v1/account_links`` (account, type, refresh_url, return_url; ``collect`` is accepted and ignored)."""
    account_id = params.string("account", required=True)
    link_type = params.string("type", required=True, choices=TYPES)
    refresh_url = _url(params, "refresh_url")
    return_url = _url(params, "return_url")
    params.string("collect", choices=("currently_due", "eventually_due"))
    params.mapping("collection_options")
    params.done()
    accounts.get(rt, account_id, param="account")
    token = secrets.token_urlsafe(24)
    now = int(time.time())
    rt.state.account_links[token] = {
        "account": account_id, "type": link_type, "refresh_url": refresh_url, "return_url": return_url,
        "created": now, "expires_at": now + LIFETIME_SECONDS, "visited": False, "used": False,
    }
    url = base_url.rstrip("/") + PAGE_PATH.format(account=account_id, token=token)
    return {"object": "account_link", "created": now, "expires_at": now + LIFETIME_SECONDS, "url": url}


def _usable(link: dict | None, account_id: str) -> bool:
    return (link is not None and link["account"] == account_id and not link["used"]
            and time.time() < link["expires_at"])


def _page(link: dict, account: dict) -> str:
    capabilities = ", ".join(account["capabilities"]) or "none requested"
    title = "Set up payouts" if link["type"] == "account_onboarding" else "Update your payout details"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · offline Stripe</title>
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; background: #f6f9fc; color: #1a1f36; margin: 0; }}
 main {{ box-sizing: border-box; width: min(28rem, calc(100% - 2rem)); margin: 2rem auto; background: #fff;
        padding: 1.5rem; border-radius: 8px; box-shadow: 0 2px 8px rgba(0,0,0,.08); }}
 code {{ word-break: break-all; }}
 dl {{ display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; }} dt {{ color: #697386; }}
 button {{ font: inherit; min-height: 44px; padding: 0 1.25rem; border-radius: 6px; border: 1px solid #635bff;
          cursor: pointer; }}
 .primary {{ background: #635bff; color: #fff; }} .secondary {{ background: #fff; color: #635bff; }}
 form {{ display: flex; gap: .75rem; flex-wrap: wrap; margin-top: 1.5rem; }}
 small {{ color: #697386; }}
</style></head>
<body><main>
<h1>{title}</h1>
<p>This page stands in for Stripe's hosted onboarding: no personal or bank details are asked for.</p>
<dl>
 <dt>Account</dt><dd><code>{html.escape(account["id"])}</code></dd>
 <dt>Country</dt><dd>{html.escape(account["country"])}</dd>
 <dt>Capabilities</dt><dd>{html.escape(capabilities)}</dd>
</dl>
<form method="post">
 <button class="primary" type="submit" name="action" value="complete">Complete onboarding</button>
 <button class="secondary" type="submit" name="action" value="leave">Leave without completing</button>
</form>
<p><small>Offline Stripe of payflow's development tools.</small></p>
</main></body></html>
"""


async def create_route(request: web.Request) -> web.Response:
    rt = runtime(request)
    base_url = rt.settings.public_url or f"{request.scheme}://{request.host}"
    return json_response(create(rt, await from_request(request), base_url))


async def page_route(request: web.Request) -> web.StreamResponse:
    rt = runtime(request)
    account_id, token = request.match_info["account"], request.match_info["token"]
    link = rt.state.account_links.get(token)
    if link is None or link["account"] != account_id:
        return web.Response(status=404, text="This onboarding link does not exist.")
    if not _usable(link, account_id) or link["visited"]:
        raise web.HTTPFound(link["refresh_url"])
    link["visited"] = True
    rt.save()
    return web.Response(text=_page(link, accounts.get(rt, account_id)), content_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def submit_route(request: web.Request) -> web.StreamResponse:
    rt = runtime(request)
    account_id, token = request.match_info["account"], request.match_info["token"]
    link = rt.state.account_links.get(token)
    if link is None or link["account"] != account_id:
        return web.Response(status=404, text="This onboarding link does not exist.")
    if not _usable(link, account_id):
        raise web.HTTPSeeOther(link["refresh_url"])
    form = await request.post()
    link["used"] = True
    if form.get("action") == "complete":
        accounts.complete_onboarding(rt, account_id)
    raise web.HTTPSeeOther(link["return_url"])
