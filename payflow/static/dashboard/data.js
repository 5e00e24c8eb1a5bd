/**
 * data.js — reading the API into the page's state: first loads, "Load more", and single rows
 * refreshed after a live update. A load that a newer one overtook is dropped; a row a live update
 * brought while a list was loading is kept if it is newer.
 */
import { api, query } from "./api.js";
import { changed, collection, newer, putPayment, putPayout, state } from "./state.js";

let generation = 0;
export const paymentFilters = { currency: "", from: "", to: "" };

async function loadPage(path, target) {
  const data = await api(path);
  for (const item of data.items) {
    if (newer(item, target.items.get(item.id))) target.items.set(item.id, item);
  }
  return data.nextCursor || null;
}

function mergeInto(target, fresh) {
  for (const [id, item] of target.items) {
    const other = fresh.items.get(id);
    if (other && !newer(other, item)) fresh.items.set(id, item);
  }
  target.items = fresh.items;
  target.cursor = fresh.cursor;
  target.loaded = true;
}

export function paymentsPath() {
  return `/payments${query(paymentFilters)}`;
}

/** Whether a payment belongs in the list under the current filters (live updates can bring any). */
export function matchesFilters(payment) {
  if (paymentFilters.currency && payment.currency !== paymentFilters.currency) return false;
  const created = Date.parse(payment.createdAt);
  if (paymentFilters.from && created < Date.parse(paymentFilters.from)) return false;
  if (paymentFilters.to && created >= Date.parse(paymentFilters.to)) return false;
  return true;
}

/** Everything the signed-in user's view shows; throws ApiError. */
export async function loadAll() {
  if (!state.user) return;
  const mine = ++generation;
  const payments = collection();
  if (state.user.role === "company") {
    payments.cursor = await loadPage(paymentsPath(), payments);
    if (mine !== generation) return;
    mergeInto(state.payments, payments);
    changed("payments");
    return;
  }
  const walletEventsBefore = state.walletEvents; // a wallet:update newer than this answer wins
  const payouts = collection();
  const [walletData, paymentCursor, payoutCursor] = await Promise.all([
    api("/wallet"),
    loadPage("/payments", payments),
    loadPage("/payouts", payouts),
  ]);
  if (mine !== generation) return;
  payments.cursor = paymentCursor;
  payouts.cursor = payoutCursor;
  if (state.walletEvents === walletEventsBefore) {
    state.wallets = new Map(walletData.wallets.map((wallet) => [wallet.currency, wallet]));
  }
  state.walletsLoaded = true;
  mergeInto(state.payments, payments);
  mergeInto(state.payouts, payouts);
  changed("wallets");
  changed("payments");
  changed("payouts");
}

/** The company's list again from its first page, after the filters changed. */
export async function reloadPayments() {
  state.payments = collection();
  changed("payments");
  await loadAll();
}

export async function loadMorePayments() {
  const target = state.payments;
  if (!target.cursor) return;
  const base = state.user.role === "company" ? paymentsPath() : "/payments";
  const separator = base.includes("?") ? "&" : "?";
  target.cursor = await loadPage(`${base}${separator}cursor=${encodeURIComponent(target.cursor)}`, target);
  changed("payments");
}

export async function loadMorePayouts() {
  const target = state.payouts;
  if (!target.cursor) return;
  target.cursor = await loadPage(`/payouts?cursor=${encodeURIComponent(target.cursor)}`, target);
  changed("payouts");
}

/** The payment as the server has it now (after a live update or an action); null if it cannot be read. */
export async function refreshPayment(paymentId) {
  try {
    const payment = await api(`/payments/${encodeURIComponent(paymentId)}`);
    if (state.user?.role !== "company" || matchesFilters(payment) || state.payments.items.has(payment.id)) putPayment(payment);
    return payment;
  } catch {
    return null; // the stream will tell again, or a resync reloads everything
  }
}

export async function refreshPayout(payoutId) {
  try {
    const payout = await api(`/payouts/${encodeURIComponent(payoutId)}`);
    putPayout(payout);
    return payout;
  } catch {
    return null;
  }
}
