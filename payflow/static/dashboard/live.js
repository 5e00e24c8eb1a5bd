/**
 * live.js — the stream (payflow-client.js) feeding the page: each update refreshes what it is
 * about and becomes a toast that names the amount and the other party, with a link to the payment.
 */
import { createPaymentClient } from "../payflow-client.js";
import { $, show } from "./dom.js";
import { loadAll, refreshPayment, refreshPayout } from "./data.js";
import { firstName, PAYMENT_FAILED, PAYOUT_FAILED, paymentName, paymentPhrase, plainFailure } from "./labels.js";
import { formatMoney } from "./money.js";
import { changed, isCompany, state } from "./state.js";
import { toaster } from "./toaster.js";
import { detailPaymentId, loadDetail } from "./views/detail.js";
import { reloadEarningsSoon } from "./views/earnings.js";
import { reloadStatementSoon } from "./views/statement.js";

let client = null;
let onSessionOver = () => {};

function kindOf(status) {
  if (["FAILED", "CANCELED", "DISPUTED"].includes(status)) return "error";
  if (["HELD", "RELEASED", "COMPLETED"].includes(status)) return "success";
  return "info";
}

/** "Payment Held in Escrow" of "Payment Released: 90.00 EUR available": the words before the details. */
function headline(message) {
  return String(message || "").split(":")[0].trim() || "Payment update";
}

/** What the toast says under its title, from the reader's side, with amounts in their locale. */
export function paymentToastText(payment, data) {
  if (!payment) return formatMoney(data.amount, data.currency);
  const money = (amount) => formatMoney(amount, payment.currency);
  const phrase = paymentPhrase(payment);
  const described = payment.description ? ` · ${payment.description}` : "";
  const refunded = ["REFUNDED", "PARTIALLY_REFUNDED"].includes(data.status) && payment.refundedAmount;
  if (isCompany()) {
    if (data.status === "FAILED") return `${phrase}: ${plainFailure(payment.failureMessage, PAYMENT_FAILED)}`;
    if (data.status === "RELEASED") return `${phrase}: ${firstName(payment.influencerName)} receives ${money(payment.netAmount)}`;
    if (refunded) return `${money(payment.refundedAmount)} of ${paymentName(payment)} refunded to you`;
    return `${phrase}${described}`;
  }
  if (data.status === "HELD") return `${money(payment.netAmount)} for you from ${payment.companyName}${described}`;
  if (data.status === "RELEASED") return `${money(payment.netAmount)} from ${payment.companyName} is now available`;
  if (data.status === "FAILED") return `${phrase} did not go through`;
  if (refunded) return `${money(payment.refundedAmount)} of ${paymentName(payment)} returned to ${payment.companyName}`;
  return `${phrase}${described}`;
}

async function paymentUpdated(data) {
  const payment = await refreshPayment(data.paymentId);
  toaster.show({
    kind: data.kind || kindOf(data.status),
    title: headline(data.message),
    message: paymentToastText(payment, data),
    link: { href: `#/payments/${data.paymentId}`, text: "View payment" },
  });
  if (detailPaymentId() === data.paymentId) loadDetail(data.paymentId);
}

async function payoutUpdated(data) {
  const payout = await refreshPayout(data.payoutId);
  let message = `${formatMoney(data.amount, data.currency)} to your bank`;
  if (data.status === "FAILED") message += `: ${plainFailure(payout?.failureMessage, PAYOUT_FAILED)} The amount is back in your balance.`;
  if (data.status === "CANCELED") message += ": canceled. The amount is back in your balance.";
  toaster.show({ kind: data.kind || kindOf(data.status), title: headline(data.message), message });
}

function setLive(connection) {
  const indicator = $("#live-indicator");
  indicator.dataset.state = connection;
  indicator.textContent = connection === "live" ? "Live" : "Reconnecting…";
  show(indicator, connection !== "closed");
}

export function startStream({ sessionOver }) {
  onSessionOver = sessionOver;
  client?.close();
  client = createPaymentClient();
  let wasLive = false;
  client.on("state", (connection) => {
    setLive(connection);
    if (connection === "live" && !wasLive) {
      wasLive = true;
      refreshEverything(); // anything that happened between the first load and the stream opening
    }
  });
  client.on("payment:update", paymentUpdated);
  client.on("payout:update", payoutUpdated);
  client.on("wallet:update", (data) => {
    state.walletEvents += 1;
    state.wallets.set(data.currency, { ...(state.wallets.get(data.currency) || {}), ...data });
    state.walletsLoaded = true;
    changed("wallets");
    reloadStatementSoon();
    reloadEarningsSoon();
  });
  client.on("resync", refreshEverything);
  client.on("error", ({ reason }) => {
    if (reason === "unauthorized") onSessionOver();
  });
  setLive(client.state);
}

export function stopStream() {
  client?.close();
  client = null;
  setLive("closed");
}

export function refreshEverything() {
  loadAll().catch((error) => {
    if (error.status !== 401) toaster.show({ kind: "error", title: "Could not load your data", message: error.message });
  });
  if (state.user?.role === "influencer") {
    reloadStatementSoon();
    reloadEarningsSoon();
  }
  if (detailPaymentId()) loadDetail(detailPaymentId());
}
