/**
 * state.js — what the page knows: the signed-in user, their payments, payouts and wallets, and the
 * refunds they asked for that Stripe has not confirmed yet. Views read it and re-render on
 * `changed(topic)`; nothing here touches the DOM or the network.
 */

const listeners = new Map(); // topic → Set of callbacks

export const state = {
  user: null,
  payments: collection(),
  payouts: collection(),
  wallets: new Map(), // currency → wallet JSON
  walletsLoaded: false,
  // payment id → { amount, refundedBefore }: a refund this page asked for, until the server's own
  // copy of the payment (its refundingAmount) says where it stands
  refundsRequested: new Map(),
  walletEvents: 0,
};

export function collection() {
  return { items: new Map(), cursor: null, loaded: false };
}

export function reset(user) {
  state.user = user;
  state.payments = collection();
  state.payouts = collection();
  state.wallets = new Map();
  state.walletsLoaded = false;
  state.refundsRequested = new Map();
}

export function on(topic, callback) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(callback);
  return () => listeners.get(topic).delete(callback);
}

export function changed(topic) {
  for (const callback of listeners.get(topic) || []) callback();
}

export function isCompany() {
  return state.user?.role === "company";
}

/** True when `incoming` is at least as recent as `existing` (rows may arrive out of order). */
export function newer(incoming, existing) {
  return !existing || !incoming.updatedAt || !existing.updatedAt || incoming.updatedAt >= existing.updatedAt;
}

/** Keep a fresher copy of a payment; from then on the server's copy says which refunds are in flight. */
export function putPayment(payment) {
  if (!payment?.id) return;
  if (!newer(payment, state.payments.items.get(payment.id))) return;
  state.payments.items.set(payment.id, payment);
  const requested = state.refundsRequested.get(payment.id);
  if (requested && (Number.isInteger(payment.refundingAmount) || payment.refundedAmount > requested.refundedBefore
      || payment.status === "REFUNDED")) {
    state.refundsRequested.delete(payment.id);
  }
  changed("payments");
}

export function putPayout(payout) {
  if (!payout?.id || !newer(payout, state.payouts.items.get(payout.id))) return;
  state.payouts.items.set(payout.id, payout);
  changed("payouts");
}

/**
 * Refunds of `payment` requested and not yet confirmed by Stripe (`{ amount }` in minor units), or
 * null: the server's `refundingAmount`, or what this page just asked for until the server's copy arrives.
 */
export function refundInFlight(payment) {
  if (payment.refundingAmount > 0) return { amount: payment.refundingAmount };
  return state.refundsRequested.get(payment.id) || null;
}

/**
 * Stripe took a refund request for `payment` (as the page had it when the action started). If
 * Stripe's confirmation already overtook the answer, there is nothing left to wait for.
 */
export function refundRequested(payment, amount) {
  const refundedBefore = payment.refundedAmount || 0;
  const current = state.payments.items.get(payment.id);
  if (current && ((current.refundedAmount || 0) > refundedBefore || current.status === "REFUNDED")) return;
  state.refundsRequested.set(payment.id, { amount, refundedBefore });
  changed("payments");
}

/** Newest first, as the API lists them (ids are time-ordered). */
export function newestFirst(map) {
  return [...map.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** What is still in escrow for a payment, in minor units (0 once released or before it is paid). */
export function inEscrow(payment) {
  if (payment.releasedAt || !["HELD", "PARTIALLY_REFUNDED"].includes(payment.status)) return 0;
  return payment.amount - (payment.refundedAmount || 0);
}

/** What may still be refunded: what was not refunded, less refunds on their way. */
export function refundable(payment) {
  if (!["HELD", "PARTIALLY_REFUNDED", "RELEASED"].includes(payment.status)) return 0;
  return Math.max(0, payment.amount - (payment.refundedAmount || 0) - (payment.refundingAmount || 0));
}
