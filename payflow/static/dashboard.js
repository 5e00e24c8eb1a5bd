/**
 * dashboard.js — the page at "/": sign in, then the company's or the influencer's view,
 * kept current by the live stream (payflow-client.js) and announced with toasts (toasts.js).
 *
 * Everything goes through the JSON API with the HttpOnly login cookies; requests that change
 * something echo the csrf_access_token cookie as X-CSRF-TOKEN. Amounts travel as integer minor
 * units and are only turned into text here (formatMoney) or parsed from text (parseMoney),
 * with string arithmetic, never floats.
 */
import { createPaymentClient, readCookie } from "./payflow-client.js";
import { createToaster } from "./toasts.js";

const config = JSON.parse(document.getElementById("payflow-config")?.textContent || "{}");
const $ = (selector, root = document) => root.querySelector(selector);

// --- money ---------------------------------------------------------------------------------

const ZERO_DECIMAL = new Set("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split(" "));
export const MAX_AMOUNT = 99999999;

export function decimalsOf(currency) {
  return ZERO_DECIMAL.has(String(currency).toLowerCase()) ? 0 : 2;
}

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** 4500, "usd" → "45.00 USD"; 500, "jpy" → "500 JPY". */
export function formatMoney(amount, currency) {
  const code = String(currency || "").toUpperCase();
  const sign = amount < 0 ? "-" : "";
  const digits = String(Math.abs(Math.trunc(Number(amount) || 0)));
  if (decimalsOf(currency) === 0) return `${sign}${groupThousands(digits)} ${code}`;
  const padded = digits.padStart(3, "0");
  return `${sign}${groupThousands(padded.slice(0, -2))}.${padded.slice(-2)} ${code}`;
}

/** "45", "45.5", "45,50", "1 000.00" → minor units; throws a readable Error otherwise. */
export function parseMoney(text, currency) {
  const value = String(text ?? "").trim().replace(/[\s_]/g, "");
  const decimals = decimalsOf(currency);
  const pattern = decimals === 0 ? /^\d+$/ : /^(\d+)(?:[.,](\d{1,2}))?$/;
  const match = value.match(pattern);
  if (!match) {
    throw new Error(decimals === 0
      ? `Enter a whole number of ${String(currency).toUpperCase()} (no decimals).`
      : "Enter an amount such as 50 or 49.99.");
  }
  const minor = decimals === 0
    ? Number.parseInt(value, 10)
    : Number.parseInt(match[1], 10) * 100 + Number.parseInt((match[2] || "0").padEnd(2, "0"), 10);
  if (minor <= 0) throw new Error("The amount must be more than zero.");
  if (minor > MAX_AMOUNT) throw new Error(`The amount can be at most ${formatMoney(MAX_AMOUNT, currency)}.`);
  return minor;
}

function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const PAYMENT_STATUS = {
  PENDING: "Awaiting payment",
  PROCESSING: "Processing",
  HELD: "Held in escrow",
  RELEASED: "Released",
  FAILED: "Failed",
  CANCELED: "Canceled",
  REFUNDED: "Refunded",
  PARTIALLY_REFUNDED: "Partially refunded",
  DISPUTED: "Disputed",
};
const PAYOUT_STATUS = {
  PENDING: "Requested",
  IN_TRANSIT: "In transit",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
};
const BUCKET = { available: "Available", pending: "Pending", receivable: "Owed" };

// --- the API -------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || "error";
    this.details = error;
  }
}

let refreshing = null;
const SESSION_PATHS = /^\/auth\/(login|register|refresh|logout)\b/; // a 401 there is an answer, not an expiry

/** Renew the access cookie with the refresh cookie; true when the session goes on. */
function refreshSession() {
  const token = readCookie("csrf_refresh_token");
  if (!token) return Promise.resolve(false);
  refreshing ??= fetch("/auth/refresh", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-TOKEN": token },
  })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function api(path, { method = "GET", body } = {}, retried = false) {
  // An expired access cookie is gone from the jar: renew it first rather than collect a 401.
  if (!readCookie("csrf_access_token") && readCookie("csrf_refresh_token")) await refreshSession();
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    const csrf = readCookie("csrf_access_token");
    if (csrf) headers["X-CSRF-TOKEN"] = csrf;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: { code: "network", message: "payflow cannot be reached. Check your connection and try again." } });
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 && !retried && !SESSION_PATHS.test(path) && (await refreshSession())) {
    return api(path, { method, body }, true);
  }
  if (response.status === 401 && !SESSION_PATHS.test(path)) sessionEnded();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// --- state ---------------------------------------------------------------------------------

const toaster = createToaster({ container: $("#toasts") });
let client = null;
let user = null;
let loadGeneration = 0;
let walletEvents = 0;

function collection() {
  return { items: new Map(), cursor: null, loaded: false };
}
let payments = collection();
let payouts = collection();
let transactions = collection();
let wallets = new Map();

function newer(incoming, existing) {
  return !existing || !incoming.updatedAt || !existing.updatedAt || incoming.updatedAt >= existing.updatedAt;
}

// --- views ---------------------------------------------------------------------------------

function show(element, visible) {
  element.hidden = !visible;
}

function setFormError(form, message) {
  const box = $(".form-error", form);
  box.textContent = message || "";
  show(box, Boolean(message));
}

function setBusy(form, busy) {
  for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

function updateEmpty(listId, count) {
  const empty = document.querySelector(`[data-empty-for="${listId}"]`);
  if (empty) show(empty, count === 0);
}

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = text;
  return element;
}

function button(label, className, onClick, extra = {}) {
  const element = el("button", className, label);
  element.type = "button";
  Object.assign(element.dataset, extra);
  element.addEventListener("click", onClick);
  return element;
}

function statusBadge(status, labels) {
  const badge = el("span", `status status--${status.toLowerCase().replace(/_/g, "-")}`, labels[status] || status);
  badge.dataset.status = status;
  return badge;
}

function inEscrow(payment) {
  if (payment.releasedAt || !["HELD", "PARTIALLY_REFUNDED"].includes(payment.status)) return 0;
  return payment.amount - (payment.refundedAmount || 0);
}

function paymentRow(payment) {
  const company = user?.role === "company";
  const row = el("li", "item");
  row.dataset.paymentId = payment.id;
  row.dataset.status = payment.status;

  const main = el("div", "item__main");
  main.append(el("span", "item__title", payment.description || "Payment"));
  main.append(el("span", "item__meta", formatDate(payment.createdAt)));
  row.append(main);
  const side = el("div", "item__side");
  side.append(el("span", "amount", formatMoney(payment.amount, payment.currency)), statusBadge(payment.status, PAYMENT_STATUS));
  row.append(side);

  const notes = [];
  if (payment.status === "FAILED" && payment.failureMessage) notes.push(payment.failureMessage);
  if (payment.refundedAmount) notes.push(`${formatMoney(payment.refundedAmount, payment.currency)} refunded`);
  if (payment.status === "RELEASED" && payment.feeAmount && company) {
    notes.push(`Platform fee ${formatMoney(payment.feeAmount, payment.currency)}`);
  }
  if (notes.length) row.append(el("p", "item__note", notes.join(" · ")));

  if (company) {
    const actions = el("div", "item__actions");
    if (payment.status === "PENDING") actions.append(button("Pay", "primary small", () => openPayDialog(payment.id), { action: "pay" }));
    if (payment.status === "FAILED") actions.append(button("Retry", "primary small", () => retryPayment(payment.id), { action: "retry" }));
    if (inEscrow(payment) > 0) actions.append(button("Release", "primary small", () => releasePayment(payment.id), { action: "release" }));
    if (["HELD", "PARTIALLY_REFUNDED", "RELEASED"].includes(payment.status) && payment.amount > (payment.refundedAmount || 0)) {
      actions.append(button("Refund", "secondary small", () => refundPayment(payment.id), { action: "refund" }));
    }
    if (actions.childElementCount) row.append(actions);
  }
  return row;
}

function payoutRow(payout) {
  const row = el("li", "item");
  row.dataset.payoutId = payout.id;
  row.dataset.status = payout.status;
  const main = el("div", "item__main");
  main.append(el("span", "item__title", "Payout to your bank"), el("span", "item__meta", formatDate(payout.createdAt)));
  const side = el("div", "item__side");
  side.append(el("span", "amount", formatMoney(payout.amount, payout.currency)), statusBadge(payout.status, PAYOUT_STATUS));
  row.append(main, side);
  if (payout.failureMessage) row.append(el("p", "item__note", payout.failureMessage));
  return row;
}

function listId() {
  return user?.role === "company" ? "company-payments" : "influencer-payments";
}

function sortedNewestFirst(map) {
  // ids are time-ordered (ULIDs), like the API's own order
  return [...map.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

function renderList(id, map, rowOf) {
  const list = document.getElementById(id);
  const rows = sortedNewestFirst(map).map(rowOf);
  // keep the focused button focused across a re-render
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const key = focused?.closest("[data-payment-id],[data-payout-id]");
  const keyId = key && (key.dataset.paymentId || key.dataset.payoutId);
  const action = focused?.dataset.action;
  list.replaceChildren(...rows);
  if (keyId && action) {
    list.querySelector(`[data-payment-id="${keyId}"] [data-action="${action}"], [data-payout-id="${keyId}"] [data-action="${action}"]`)?.focus();
  }
  updateEmpty(id, rows.length);
}

function renderPayments() {
  renderList(listId(), payments.items, paymentRow);
  show(document.getElementById(`${listId()}-more`), Boolean(payments.cursor));
}

function renderPayouts() {
  renderList("payouts", payouts.items, payoutRow);
  show($("#payouts-more"), Boolean(payouts.cursor));
}

function renderWallets() {
  const box = $("#wallets");
  const cards = [...wallets.values()].sort((a, b) => a.currency.localeCompare(b.currency)).map((wallet) => {
    const card = el("div", "wallet");
    card.dataset.currency = wallet.currency;
    card.append(el("h3", "wallet__currency", wallet.currency.toUpperCase()));
    const figures = el("dl", "wallet__figures");
    const figure = (label, value, className) => {
      const group = el("div", `figure ${className}`);
      group.append(el("dt", null, label), el("dd", null, formatMoney(value, wallet.currency)));
      figures.append(group);
    };
    figure("Available", wallet.availableBalance, "wallet__available");
    figure("Pending in escrow", wallet.pendingBalance, "wallet__pending");
    if (wallet.receivableBalance) figure("Owed", wallet.receivableBalance, "wallet__receivable");
    card.append(figures);
    return card;
  });
  box.replaceChildren(...cards);
  updateEmpty("wallets", cards.length);
  $("#request-payout").disabled = ![...wallets.values()].some((wallet) => wallet.availableBalance > 0);
}

function renderTransactions() {
  const body = $("#transactions");
  const rows = [...transactions.items.values()]
    .sort((a, b) => Number(String(b.id).replace(/\D/g, "")) - Number(String(a.id).replace(/\D/g, "")))
    .map((line) => {
      const row = el("tr");
      row.dataset.transactionId = line.id;
      const what = el("td");
      what.append(
        el("span", "transaction__what", line.description || line.type.replace(/_/g, " ")),
        el("span", "transaction__bucket", BUCKET[line.bucket] || line.bucket),
      );
      row.append(
        el("td", "transaction__date", formatDate(line.createdAt)),
        what,
        el("td", `num ${line.amount < 0 ? "negative" : "positive"}`, `${line.amount > 0 ? "+" : ""}${formatMoney(line.amount, line.currency)}`),
      );
      return row;
    });
  body.replaceChildren(...rows);
  updateEmpty("transactions", rows.length);
  show($("#transactions-more"), Boolean(transactions.cursor));
}

function setLive(state) {
  const indicator = $("#live-indicator");
  indicator.dataset.state = state;
  indicator.textContent = state === "live" ? "Live" : "Reconnecting…";
  show(indicator, state !== "closed");
}

function showView(name) {
  show($("#loading"), false);
  show($("#auth-view"), name === "auth");
  show($("#company-view"), name === "company");
  show($("#influencer-view"), name === "influencer");
  show($("#account"), name !== "auth");
  updateNotificationButton();
}

function updateNotificationButton() {
  const state = toaster.browserNotificationsState();
  show($("#enable-notifications"), Boolean(user) && state === "default");
}

// --- loading -------------------------------------------------------------------------------

async function loadPage(path, target) {
  const data = await api(path);
  for (const item of data.items) {
    const existing = target.items.get(item.id);
    if (newer(item, existing)) target.items.set(item.id, item);
  }
  return data.nextCursor || null;
}

async function loadAll() {
  if (!user) return;
  const mine = ++loadGeneration;
  try {
    if (user.role === "company") {
      const fresh = collection();
      fresh.cursor = await loadPage("/payments", fresh);
      if (mine !== loadGeneration) return;
      mergeInto(payments, fresh);
      renderPayments();
      return;
    }
    const walletEventsBefore = walletEvents; // a wallet:update newer than this answer wins
    const [walletData, freshPayments, freshPayouts, freshTransactions] = await Promise.all([
      api("/wallet"),
      (async () => { const c = collection(); c.cursor = await loadPage("/payments", c); return c; })(),
      (async () => { const c = collection(); c.cursor = await loadPage("/payouts", c); return c; })(),
      (async () => { const c = collection(); c.cursor = await loadPage("/wallet/transactions", c); return c; })(),
    ]);
    if (mine !== loadGeneration) return;
    if (walletEvents === walletEventsBefore) {
      wallets = new Map(walletData.wallets.map((wallet) => [wallet.currency, wallet]));
    }
    mergeInto(payments, freshPayments);
    mergeInto(payouts, freshPayouts);
    transactions = freshTransactions;
    renderWallets();
    renderPayments();
    renderPayouts();
    renderTransactions();
  } catch (error) {
    if (error.status !== 401) toaster.show({ kind: "error", message: `Could not load your data: ${error.message}` });
  }
}

function mergeInto(target, fresh) {
  // keep rows a live event delivered while the list was loading, if they are newer
  for (const [id, item] of target.items) {
    const other = fresh.items.get(id);
    if (other && !newer(other, item)) fresh.items.set(id, item);
  }
  target.items = fresh.items;
  target.cursor = fresh.cursor;
}

async function loadMore(target, path, render) {
  if (!target.cursor) return;
  try {
    const separator = path.includes("?") ? "&" : "?";
    target.cursor = await loadPage(`${path}${separator}cursor=${encodeURIComponent(target.cursor)}`, target);
    render();
  } catch (error) {
    toaster.show({ kind: "error", message: error.message });
  }
}

async function refreshPayment(paymentId) {
  try {
    upsertPayment(await api(`/payments/${encodeURIComponent(paymentId)}`));
  } catch {
    // the stream will tell us again, or a resync reloads everything
  }
}

async function refreshPayout(payoutId) {
  try {
    const payout = await api(`/payouts/${encodeURIComponent(payoutId)}`);
    if (newer(payout, payouts.items.get(payout.id))) payouts.items.set(payout.id, payout);
    renderPayouts();
  } catch {
    // as above
  }
}

function upsertPayment(payment) {
  if (!payment || !payment.id) return;
  if (newer(payment, payments.items.get(payment.id))) payments.items.set(payment.id, payment);
  renderPayments();
}

let transactionsTimer = null;
function reloadTransactionsSoon() {
  clearTimeout(transactionsTimer);
  transactionsTimer = setTimeout(async () => {
    try {
      const fresh = collection();
      fresh.cursor = await loadPage("/wallet/transactions", fresh);
      transactions = fresh;
      renderTransactions();
    } catch {
      // shown on the next load
    }
  }, 150);
}

// --- live updates --------------------------------------------------------------------------

function startStream() {
  client?.close();
  client = createPaymentClient();
  let wasLive = false;
  client.on("state", (state) => {
    setLive(state);
    if (state === "live" && !wasLive) {
      wasLive = true;
      loadAll(); // anything that happened between the first load and the stream opening
    }
  });
  client.on("payment:update", (data) => {
    toaster.show({ kind: data.kind || kindOf(data.status), message: data.message });
    refreshPayment(data.paymentId);
  });
  client.on("payout:update", (data) => {
    toaster.show({ kind: data.kind || kindOf(data.status), message: data.message });
    refreshPayout(data.payoutId);
  });
  client.on("wallet:update", (data) => {
    walletEvents += 1;
    wallets.set(data.currency, { ...(wallets.get(data.currency) || {}), ...data });
    renderWallets();
    reloadTransactionsSoon();
  });
  client.on("resync", () => loadAll());
  client.on("error", ({ reason }) => {
    if (reason === "unauthorized") sessionEnded();
  });
  setLive(client.state);
}

function kindOf(status) {
  if (["FAILED", "CANCELED", "DISPUTED"].includes(status)) return "error";
  if (["HELD", "RELEASED", "COMPLETED"].includes(status)) return "success";
  return "info";
}

// --- session -------------------------------------------------------------------------------

function signedIn(account) {
  user = account;
  payments = collection();
  payouts = collection();
  transactions = collection();
  wallets = new Map();
  $("#account-name").textContent = `${account.name} · ${account.role === "company" ? "Company" : account.role === "influencer" ? "Influencer" : account.role}`;
  showView(account.role === "company" ? "company" : "influencer");
  renderPayments();
  if (account.role !== "company") {
    renderWallets();
    renderPayouts();
    renderTransactions();
  }
  startStream();
  loadAll();
}

function signedOut(message) {
  user = null;
  client?.close();
  client = null;
  setLive("closed");
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  showView("auth");
  const notice = $("#auth-message");
  notice.textContent = message || "";
  show(notice, Boolean(message));
}

function sessionEnded() {
  if (user) signedOut("Your session has ended. Sign in again.");
}

async function boot() {
  const hasSession = readCookie("csrf_access_token") || readCookie("csrf_refresh_token");
  if (hasSession) {
    try {
      const { user: account } = await api("/auth/me");
      signedIn(account);
      return;
    } catch {
      // fall through to the sign-in form
    }
  }
  signedOut();
}

function wireAuthForms() {
  const login = $("#login-form");
  login.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFormError(login, "");
    const email = $("#login-email").value.trim();
    const password = $("#login-password").value;
    if (!email || !password) {
      setFormError(login, "Enter your email and password.");
      return;
    }
    setBusy(login, true);
    try {
      const data = await api("/auth/login", { method: "POST", body: { email, password } });
      login.reset();
      signedIn(data.user);
    } catch (error) {
      setFormError(login, error.code === "invalid_credentials" ? "Wrong email or password." : error.message);
    } finally {
      setBusy(login, false);
    }
  });

  const register = $("#register-form");
  register.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFormError(register, "");
    const body = {
      name: $("#register-name").value.trim(),
      email: $("#register-email").value.trim(),
      password: $("#register-password").value,
      role: new FormData(register).get("role"),
    };
    if (!body.name || !body.email) return setFormError(register, "Enter your name and email.");
    if (body.password.length < 8) return setFormError(register, "The password needs at least 8 characters.");
    setBusy(register, true);
    try {
      const data = await api("/auth/register", { method: "POST", body });
      register.reset();
      signedIn(data.user);
    } catch (error) {
      setFormError(register, error.code === "email_taken" ? "An account with this email already exists: sign in instead." : error.message);
    } finally {
      setBusy(register, false);
    }
    return undefined;
  });

  $("#sign-out").addEventListener("click", async () => {
    try {
      await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
    } finally {
      signedOut();
    }
  });

  $("#enable-notifications").addEventListener("click", async () => {
    await toaster.enableBrowserNotifications();
    updateNotificationButton();
  });
}

// --- dialogs -------------------------------------------------------------------------------

function wireDialog(dialog) {
  for (const closer of dialog.querySelectorAll("[data-close]")) closer.addEventListener("click", () => dialog.close());
}

let stripeLoader = null;
function loadStripe() {
  stripeLoader ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "https://js.stripe.com/v3/";
    script.onload = () => resolve(window.Stripe(config.stripePublishableKey));
    script.onerror = () => {
      stripeLoader = null;
      reject(new Error("Stripe.js could not be loaded."));
    };
    document.head.append(script);
  });
  return stripeLoader;
}

let stripeCard = null;
let payingId = null;

async function openPayDialog(paymentId) {
  const payment = payments.items.get(paymentId);
  if (!payment) return;
  payingId = paymentId;
  const dialog = $("#pay-dialog");
  const form = $("#pay-form");
  form.reset();
  setFormError(form, "");
  $("#pay-title").textContent = `Pay ${formatMoney(payment.amount, payment.currency)}`;
  $("#pay-submit").textContent = `Pay ${formatMoney(payment.amount, payment.currency)}`;
  $("#pay-summary").textContent = payment.description || "";
  const useStripe = Boolean(config.stripePublishableKey);
  const useTestCards = !useStripe && Boolean(config.testCards);
  show($("#stripe-card-fields"), useStripe);
  show($("#test-card-fields"), useTestCards);
  show($("#pay-unavailable"), !useStripe && !useTestCards);
  $("#pay-submit").disabled = !useStripe && !useTestCards;
  dialog.showModal();
  if (useStripe && !stripeCard) {
    try {
      const stripe = await loadStripe();
      stripeCard = { stripe, card: stripe.elements().create("card") };
      stripeCard.card.mount("#stripe-card");
    } catch (error) {
      setFormError(form, error.message);
    }
  }
  if (useTestCards) $("#card-number").focus();
}

function parseExpiry(text) {
  const match = String(text).trim().match(/^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/);
  if (!match) throw new Error("Enter the expiry as MM/YY.");
  const month = Number.parseInt(match[1], 10);
  let year = Number.parseInt(match[2], 10);
  if (year < 100) year += 2000;
  if (month < 1 || month > 12) throw new Error("The expiry month must be 01 to 12.");
  return { month, year };
}

async function submitPayment(event) {
  event.preventDefault();
  const form = $("#pay-form");
  const dialog = $("#pay-dialog");
  const payment = payments.items.get(payingId);
  if (!payment) return;
  setFormError(form, "");
  setBusy(form, true);
  try {
    if (config.stripePublishableKey) {
      if (!stripeCard) throw new Error("The card form is still loading.");
      const result = await stripeCard.stripe.confirmCardPayment(payment.clientSecret, {
        payment_method: { card: stripeCard.card },
      });
      if (result.error && result.error.type !== "card_error") throw new Error(result.error.message);
      // Declined or paid: Stripe tells payflow by webhook, and the stream tells this page.
      dialog.close();
      refreshPayment(payment.id);
      return;
    }
    const number = $("#card-number").value.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number)) throw new Error("Enter the card number (12 to 19 digits).");
    const { month, year } = parseExpiry($("#card-expiry").value);
    const cvc = $("#card-cvc").value.trim();
    if (!/^\d{3,4}$/.test(cvc)) throw new Error("The CVC has 3 or 4 digits.");
    const paid = await api(`/payments/${encodeURIComponent(payment.id)}/test-card`, {
      method: "POST",
      body: { number, expMonth: month, expYear: year, cvc },
    });
    upsertPayment(paid);
    dialog.close();
  } catch (error) {
    if (error instanceof ApiError && error.code === "card_declined") {
      // Recorded as FAILED: the row shows why and offers Retry; the stream brings the toast.
      upsertPayment(error.details.payment);
      dialog.close();
      return;
    }
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
  }
}

async function retryPayment(paymentId) {
  try {
    upsertPayment(await api(`/payments/${encodeURIComponent(paymentId)}/retry`, { method: "POST" }));
    openPayDialog(paymentId);
  } catch (error) {
    toaster.show({ kind: "error", message: `Retry failed: ${error.message}` });
  }
}

/** A small confirm dialog; resolves to {amount} (null amount: all of it) or null if cancelled. */
function askAction({ title, text, confirmLabel, amountCurrency, maxAmount }) {
  const dialog = $("#action-dialog");
  const form = $("#action-form");
  form.reset();
  setFormError(form, "");
  $("#action-title").textContent = title;
  $("#action-text").textContent = text;
  $("#action-confirm").textContent = confirmLabel;
  show($("#action-amount-field"), Boolean(amountCurrency));
  dialog.showModal();
  return new Promise((resolve) => {
    const onSubmit = (event) => {
      event.preventDefault();
      let amount = null;
      const raw = $("#action-amount").value.trim();
      if (amountCurrency && raw) {
        try {
          amount = parseMoney(raw, amountCurrency);
          if (maxAmount && amount > maxAmount) throw new Error(`At most ${formatMoney(maxAmount, amountCurrency)}.`);
        } catch (error) {
          setFormError(form, error.message);
          return;
        }
      }
      finish({ amount });
    };
    const onClose = () => finish(null);
    function finish(result) {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(result);
    }
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
  });
}

async function releasePayment(paymentId) {
  const payment = payments.items.get(paymentId);
  if (!payment) return;
  const answer = await askAction({
    title: `Release ${formatMoney(inEscrow(payment), payment.currency)}?`,
    text: "The influencer receives it in their wallet, minus the platform fee. This cannot be undone (a refund is still possible).",
    confirmLabel: "Release",
  });
  if (!answer) return;
  try {
    upsertPayment(await api(`/payments/${encodeURIComponent(paymentId)}/release`, { method: "POST" }));
  } catch (error) {
    toaster.show({ kind: "error", message: `Release failed: ${error.message}` });
  }
}

async function refundPayment(paymentId) {
  const payment = payments.items.get(paymentId);
  if (!payment) return;
  const refundable = payment.amount - (payment.refundedAmount || 0);
  const answer = await askAction({
    title: `Refund up to ${formatMoney(refundable, payment.currency)}?`,
    text: "Stripe returns the money to your card; the payment changes when Stripe confirms the refund.",
    confirmLabel: "Refund",
    amountCurrency: payment.currency,
    maxAmount: refundable,
  });
  if (!answer) return;
  try {
    const body = answer.amount ? { amount: answer.amount } : undefined;
    const result = await api(`/payments/${encodeURIComponent(paymentId)}/refund`, { method: "POST", body });
    toaster.show({ kind: "info", message: `Refund of ${formatMoney(result.amount, payment.currency)} requested` });
  } catch (error) {
    toaster.show({ kind: "error", message: `Refund failed: ${error.message}` });
  }
}

function openPayoutDialog() {
  const dialog = $("#payout-dialog");
  const form = $("#payout-form");
  form.reset();
  setFormError(form, "");
  const select = $("#payout-currency");
  const funded = [...wallets.values()].filter((wallet) => wallet.availableBalance > 0);
  select.replaceChildren(...funded.map((wallet) => {
    const option = el("option", null, wallet.currency.toUpperCase());
    option.value = wallet.currency;
    return option;
  }));
  const describe = () => {
    const wallet = wallets.get(select.value);
    $("#payout-available").textContent = wallet ? `Available: ${formatMoney(wallet.availableBalance, wallet.currency)}` : "";
  };
  select.onchange = describe;
  describe();
  dialog.showModal();
  $("#payout-amount").focus();
}

async function submitPayout(event) {
  event.preventDefault();
  const form = $("#payout-form");
  setFormError(form, "");
  const currency = $("#payout-currency").value;
  let amount;
  try {
    amount = parseMoney($("#payout-amount").value, currency);
  } catch (error) {
    setFormError(form, error.message);
    return;
  }
  setBusy(form, true);
  try {
    const payout = await api("/payouts", { method: "POST", body: { amount, currency } });
    if (newer(payout, payouts.items.get(payout.id))) payouts.items.set(payout.id, payout);
    renderPayouts();
    $("#payout-dialog").close();
  } catch (error) {
    if (error.details?.payoutId) refreshPayout(error.details.payoutId);
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
  }
}

async function submitNewPayment(event) {
  event.preventDefault();
  const form = $("#payment-form");
  setFormError(form, "");
  const email = $("#payment-influencer").value.trim();
  const currency = $("#payment-currency").value;
  let amount;
  try {
    if (!email) throw new Error("Enter the influencer's email.");
    amount = parseMoney($("#payment-amount").value, currency);
  } catch (error) {
    setFormError(form, error.message);
    return;
  }
  setBusy(form, true);
  try {
    let influencer;
    try {
      influencer = await api(`/influencers?email=${encodeURIComponent(email)}`);
    } catch (error) {
      throw error.status === 404 ? new Error(`No influencer has the email ${email}.`) : error;
    }
    const payment = await api("/payments", {
      method: "POST",
      body: { influencerId: influencer.id, amount, currency, description: $("#payment-description").value.trim() },
    });
    upsertPayment(payment);
    form.reset();
    openPayDialog(payment.id);
  } catch (error) {
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
  }
}

function wireDashboard() {
  $("#payment-form").addEventListener("submit", submitNewPayment);
  $("#pay-form").addEventListener("submit", submitPayment);
  $("#payout-form").addEventListener("submit", submitPayout);
  $("#request-payout").addEventListener("click", openPayoutDialog);
  for (const dialog of document.querySelectorAll("dialog")) wireDialog(dialog);
  $("#company-payments-more").addEventListener("click", () => loadMore(payments, "/payments", renderPayments));
  $("#influencer-payments-more").addEventListener("click", () => loadMore(payments, "/payments", renderPayments));
  $("#payouts-more").addEventListener("click", () => loadMore(payouts, "/payouts", renderPayouts));
  $("#transactions-more").addEventListener("click", () => loadMore(transactions, "/wallet/transactions", renderTransactions));
}

wireAuthForms();
wireDashboard();
boot();
