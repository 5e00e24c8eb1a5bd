/**
 * dashboard.js — the page at "/": sign in, then the company's or the influencer's view, kept
 * current by the live stream. The code is split by concern into ES modules under dashboard/
 * (served as they are, no build step):
 *
 *   config.js   what the server put in the page (currency exponents, Stripe settings)
 *   money.js    amounts in minor units, shown and typed in the reader's locale
 *   dates.js    times and calendar days in the reader's locale and zone
 *   api.js      the JSON API, cookies, CSRF, errors in plain words
 *   actions.js  money-moving requests: one Idempotency-Key per user action, busy until answered
 *   state.js    what the page knows; data.js fills it from the API; live.js from the stream
 *   router.js   "#/" and "#/payments/{id}"
 *   views/      payments, wallet, statement, earnings chart, payment detail, dialogs, sign-in
 */
import { whenSessionEnds, api } from "./dashboard/api.js";
import { $, show } from "./dashboard/dom.js";
import { refreshEverything, startStream, stopStream } from "./dashboard/live.js";
import { currentRoute, onRouteChange } from "./dashboard/router.js";
import { changed, reset, state } from "./dashboard/state.js";
import { toaster } from "./dashboard/toaster.js";
import { readCookie } from "./payflow-client.js";
import { wireAuth } from "./dashboard/views/auth.js";
import { hideDetail, showDetail, wireDetail } from "./dashboard/views/detail.js";
import { wireDialogs } from "./dashboard/views/dialogs.js";
import { resetEarnings, wireEarnings } from "./dashboard/views/earnings.js";
import { wirePayments } from "./dashboard/views/payments.js";
import { resetStatement, wireStatement } from "./dashboard/views/statement.js";
import { wireWallet } from "./dashboard/views/wallet.js";

export { formatMoney, parseMoney } from "./dashboard/money.js";

function roleView() {
  return state.user?.role === "company" ? "company" : "influencer";
}

/** Show the view the URL and the session ask for. */
function route() {
  if (!state.user) return;
  const target = currentRoute();
  const detail = target.name === "payment";
  show($("#loading"), false);
  show($("#auth-view"), false);
  show($("#account"), true);
  show($("#company-view"), !detail && roleView() === "company");
  show($("#influencer-view"), !detail && roleView() === "influencer");
  show($("#detail-view"), detail);
  if (detail) {
    showDetail(target.paymentId);
  } else {
    hideDetail();
  }
  updateNotificationButton();
}

function updateNotificationButton() {
  show($("#enable-notifications"), Boolean(state.user) && toaster.browserNotificationsState() === "default");
}

function signedIn(account) {
  reset(account);
  $("#account-name").textContent = `${account.name} · ${account.role === "company" ? "Company" : account.role === "influencer" ? "Influencer" : account.role}`;
  if (account.role !== "company") {
    resetStatement();
    resetEarnings();
  }
  route();
  for (const topic of ["payments", "payouts", "wallets"]) changed(topic); // loading states
  startStream({ sessionOver: sessionEnded });
  refreshEverything();
}

function signedOut(message) {
  state.user = null;
  stopStream();
  resetStatement();
  resetEarnings();
  hideDetail();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  show($("#loading"), false);
  for (const id of ["#company-view", "#influencer-view", "#detail-view", "#account"]) show($(id), false);
  show($("#auth-view"), true);
  const notice = $("#auth-message");
  notice.textContent = message || "";
  show(notice, Boolean(message));
}

function sessionEnded() {
  if (state.user) signedOut("Your session has ended. Sign in again.");
}

/** Toasts sit under the header, whatever height it wraps to, so they never cover its buttons. */
function keepToastsBelowHeader() {
  const header = $(".topbar");
  new ResizeObserver(() => {
    document.documentElement.style.setProperty("--header-height", `${header.offsetHeight}px`);
  }).observe(header);
}

async function boot() {
  const hasSession = readCookie("csrf_access_token") || readCookie("csrf_refresh_token");
  if (hasSession) {
    try {
      const { user } = await api("/auth/me");
      signedIn(user);
      return;
    } catch {
      // fall through to the sign-in form
    }
  }
  signedOut();
}

whenSessionEnds(sessionEnded);
keepToastsBelowHeader();
wireAuth({ signedIn, signedOut });
wireDialogs();
wirePayments();
wireWallet();
wireStatement();
wireEarnings();
wireDetail();
onRouteChange(route);
$("#enable-notifications").addEventListener("click", async () => {
  await toaster.enableBrowserNotifications();
  updateNotificationButton();
});
boot();
