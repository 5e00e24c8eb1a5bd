/**
 * detail.js — one payment at /#/payments/{id}: who paid whom, the fee and the net for both sides,
 * what the company can still do, and the timeline from GET /payments/{id}/timeline, each step
 * with its time in the reader's zone. It follows live updates of that payment.
 */
import { api } from "../api.js";
import { formatDateTime } from "../dates.js";
import { $, el, statusBadge } from "../dom.js";
import { feeOf, firstName, PAYMENT_FAILED, PAYMENT_STATUS, PAYOUT_STATUS, percent, plainFailure } from "../labels.js";
import { formatMoney } from "../money.js";
import { isCompany, on, putPayment, state } from "../state.js";
import { actionButtons, inFlightNote } from "./payment-actions.js";

let shown = null; // { id, payment, timeline }
let generation = 0;

/** A timeline step in words, from the reader's side. */
function stepText(step, payment) {
  const money = (amount) => formatMoney(amount, payment.currency);
  const influencer = payment.influencerName;
  const company = payment.companyName;
  switch (step.type) {
    case "created":
      return isCompany() ? `Payment of ${money(step.amount)} to ${influencer} created` : `${company} created a payment of ${money(step.amount)} to you`;
    case "processing":
      return "Stripe is processing the payment";
    case "failed":
      return step.message ? `Attempt ${step.attempt} failed: ${plainFailure(step.message, PAYMENT_FAILED)}` : `Attempt ${step.attempt} failed`;
    case "retried":
      return `Attempt ${step.attempt} started`;
    case "canceled":
      return "Payment canceled";
    case "held":
      return isCompany()
        ? `Paid: ${money(step.amount)} held in escrow`
        : `Paid by ${company}: ${money(step.amount)} held in escrow, ${money(step.netAmount)} for you after the platform fee`;
    case "released":
      return isCompany()
        ? `Released: ${money(step.netAmount)} to ${influencer}, platform fee ${money(step.feeAmount)}`
        : `Released to you: ${money(step.netAmount)} (platform fee ${money(step.feeAmount)})`;
    case "refunded": {
      const to = isCompany() ? "you" : company;
      if (!step.afterRelease) return `Refunded ${money(step.amount)} to ${to} from escrow`;
      const whose = isCompany() ? `${firstName(influencer)}'s` : "your";
      const owed = step.owedAmount ? `, ${money(step.owedAmount)} of it owed` : "";
      return `Refunded ${money(step.amount)} to ${to}: ${money(step.netAmount)} taken back from ${whose} balance${owed}`;
    }
    case "refund_requested": {
      const where = { REQUESTED: "waiting for Stripe's answer", PENDING: "Stripe is processing it",
        SUCCEEDED: "Stripe made it", FAILED: "it failed", CANCELED: "it was canceled" }[step.status];
      return `Refund of ${money(step.amount)} requested${where ? ` (${where})` : ""}`;
    }
    case "refund_failed":
      return `Refund of ${money(step.amount)} ${step.status === "CANCELED" ? "canceled" : "failed"}`
        + `${step.reason ? `: ${plainFailure(step.reason, "Stripe could not make it").replace(/_/g, " ")}` : ""}`;
    case "refund_reversed":
      return step.afterRelease
        ? `The failed refund's ${money(step.amount)} came back: ${money(step.netAmount)} to ${isCompany() ? `${firstName(influencer)}'s` : "your"} balance`
        : `The failed refund's ${money(step.amount)} came back into escrow`;
    case "dispute_opened":
      return `The card holder disputed ${money(step.amount)}${step.reason ? ` (${step.reason.replace(/_/g, " ")})` : ""}`;
    case "dispute_closed":
      return step.outcome === "lost" ? "Dispute lost: the disputed amount went back to the card holder"
        : step.outcome === "won" ? "Dispute won: the payment is restored" : "Dispute closed";
    case "paid_out":
      return `${money(step.amount)} of it paid out to your bank (payout of ${money(step.payoutAmount)}: `
        + `${(PAYOUT_STATUS[step.payoutStatus] || step.payoutStatus).toLowerCase()})`;
    default:
      return step.description || step.type.replace(/_/g, " ");
  }
}

function facts(payment) {
  const list = el("dl", "facts");
  const add = (term, value) => {
    const group = el("div", "facts__item");
    group.append(el("dt", null, term), el("dd", null, value));
    list.append(group);
  };
  const money = (amount) => formatMoney(amount, payment.currency);
  add("Amount", money(payment.amount));
  if (payment.refundedAmount) add("Refunded", money(payment.refundedAmount));
  add(`Platform fee (${percent(payment.feeBps)})`, money(feeOf(payment)));
  add(isCompany() ? `${firstName(payment.influencerName)} receives` : "You receive", money(payment.netAmount));
  add("Created", formatDateTime(payment.createdAt));
  return list;
}

function render() {
  const view = $("#detail-view");
  const body = $("#detail-body");
  if (!shown?.payment) {
    body.setAttribute("aria-busy", "true");
    body.replaceChildren(el("p", "muted loading", shown?.error || "Loading the payment…"));
    return;
  }
  const { payment, timeline } = shown;
  body.setAttribute("aria-busy", "false");
  view.dataset.paymentId = payment.id;
  const heading = el("h1", "detail__title", isCompany()
    ? `${formatMoney(payment.amount, payment.currency)} to ${payment.influencerName}`
    : `${formatMoney(payment.amount, payment.currency)} from ${payment.companyName}`);
  heading.id = "detail-title";
  heading.tabIndex = -1;
  const header = el("div", "detail__header");
  header.append(heading, statusBadge(payment.status, PAYMENT_STATUS));
  const parts = [header];
  if (payment.description) parts.push(el("p", "detail__description", payment.description));
  if (payment.status === "FAILED") parts.push(el("p", "notice", plainFailure(payment.failureMessage, PAYMENT_FAILED)));
  const inflight = inFlightNote(payment);
  if (inflight) parts.push(inflight);
  parts.push(facts(payment));
  const actions = actionButtons(payment);
  if (actions.length) {
    const bar = el("div", "item__actions detail__actions");
    bar.dataset.key = payment.id;
    bar.append(...actions);
    parts.push(bar);
  }
  parts.push(el("h2", null, "Timeline"));
  if (!timeline) {
    parts.push(el("p", "muted loading", "Loading the timeline…"));
  } else {
    const list = el("ol", "timeline");
    list.id = "timeline";
    for (const step of timeline) {
      const item = el("li", "timeline__step");
      item.dataset.type = step.type;
      const time = el("time", "timeline__time", formatDateTime(step.at));
      time.dateTime = step.at;
      item.append(time, el("span", "timeline__text", stepText(step, payment)));
      list.append(item);
    }
    parts.push(list);
  }
  const focused = body.contains(document.activeElement) ? document.activeElement?.dataset.action : null;
  body.replaceChildren(...parts);
  if (focused) body.querySelector(`[data-action="${focused}"]`)?.focus();
}

/** Fetch the payment and its timeline (again); stale answers for another payment are dropped. */
export async function loadDetail(paymentId) {
  const mine = ++generation;
  try {
    const [payment, timeline] = await Promise.all([
      api(`/payments/${encodeURIComponent(paymentId)}`),
      api(`/payments/${encodeURIComponent(paymentId)}/timeline`),
    ]);
    if (mine !== generation) return;
    shown = { id: paymentId, payment, timeline: timeline.items };
    putPayment(payment);
  } catch (error) {
    if (mine !== generation) return;
    shown = { id: paymentId, payment: null, timeline: null, error: error.message };
  }
  render();
}

export function showDetail(paymentId) {
  const first = shown?.id !== paymentId;
  if (first) shown = { id: paymentId, payment: state.payments.items.get(paymentId) || null, timeline: null };
  render();
  loadDetail(paymentId).then(() => { if (first) $("#detail-title")?.focus(); });
}

export function hideDetail() {
  shown = null;
  generation += 1;
}

/** The payment on screen, if any (live updates reload it). */
export function detailPaymentId() {
  return shown?.id || null;
}

export function wireDetail() {
  // The row's state (a refund requested, an action in flight) is the detail's too.
  on("payments", () => {
    if (!shown) return;
    const fresh = state.payments.items.get(shown.id);
    if (fresh && shown.payment && fresh !== shown.payment && fresh.updatedAt >= shown.payment.updatedAt) shown.payment = fresh;
    if (shown.payment) render();
  });
}
