/**
 * payment-actions.js — what the paying company can do to a payment (pay, retry, release, refund),
 * as buttons whose accessible names say which payment they act on ("Refund the $50.00 payment to
 * Riley Creator"), each a user action with its own Idempotency-Key (actions.js).
 */
import { busyWhile, inFlight, runAction } from "../actions.js";
import { api } from "../api.js";
import { button, el } from "../dom.js";
import { firstName, paymentName } from "../labels.js";
import { formatMoney } from "../money.js";
import { inEscrow, putPayment, refundable, refundInFlight, refundRequested, state } from "../state.js";
import { toaster } from "../toaster.js";
import { refreshPayment } from "../data.js";
import { confirmAction, openPayDialog } from "./dialogs.js";

const path = (payment, action) => `/payments/${encodeURIComponent(payment.id)}/${action}`;

/** The action buttons of `payment` for the company that pays it (an empty list for anyone else). */
export function actionButtons(payment) {
  if (state.user?.role !== "company" || payment.companyId !== state.user.id) return [];
  const name = paymentName(payment);
  const buttons = [];
  if (payment.status === "PENDING") {
    buttons.push(button("Pay", "primary small", () => openPayDialog(payment.id), {
      label: `Pay ${name}`, action: "pay",
    }));
  }
  if (payment.status === "FAILED") {
    buttons.push(button(inFlight(`retry:${payment.id}`) ? "Retrying…" : "Retry", "primary small", (event) => retryPayment(payment, event.currentTarget), {
      label: `Retry ${name}`, action: "retry", disabled: inFlight(`retry:${payment.id}`),
    }));
  }
  // A refund waiting for Stripe's confirmation: nothing more to do until it lands.
  if (refundInFlight(payment)) return buttons;
  if (inEscrow(payment) > 0) {
    buttons.push(button("Release", "primary small", () => releasePayment(payment), {
      label: `Release ${name}`, action: "release", disabled: inFlight(`release:${payment.id}`),
    }));
  }
  if (refundable(payment) > 0) {
    buttons.push(button("Refund", "secondary small", () => refundPayment(payment), {
      label: `Refund ${name}`, action: "refund", disabled: inFlight(`refund:${payment.id}`),
    }));
  }
  return buttons;
}

/** "Refund of $10.00 requested": shown on the row until Stripe confirms the refund. */
export function inFlightNote(payment) {
  const refund = refundInFlight(payment);
  if (!refund) return null;
  const note = el("p", "item__inflight", refund.amount
    ? `Refund of ${formatMoney(refund.amount, payment.currency)} requested: waiting for Stripe to confirm it.`
    : "Refund requested: waiting for Stripe to confirm it.");
  note.dataset.inflight = "refund";
  return note;
}

async function retryPayment(payment, target) {
  const result = runAction(`retry:${payment.id}`, null, (key) => api(path(payment, "retry"), { method: "POST", idempotencyKey: key }));
  try {
    putPayment(await busyWhile(target, result, "Retrying…"));
    openPayDialog(payment.id);
  } catch (error) {
    toaster.show({ kind: "error", title: "Retry failed", message: error.message });
  }
}

function releasePayment(payment) {
  const remaining = inEscrow(payment);
  const fee = remaining - payment.netAmount;
  confirmAction({
    title: `Release ${formatMoney(remaining, payment.currency)} to ${payment.influencerName}?`,
    text: `${firstName(payment.influencerName)} receives ${formatMoney(payment.netAmount, payment.currency)} in their wallet `
      + `(platform fee ${formatMoney(fee, payment.currency)}). This cannot be undone; a refund is still possible.`,
    confirmLabel: "Release",
    busyLabel: "Releasing…",
    perform: async () => {
      const released = await runAction(`release:${payment.id}`, null, (key) => api(path(payment, "release"), {
        method: "POST", idempotencyKey: key, context: { currency: payment.currency },
      }));
      putPayment(released);
    },
  });
}

function refundPayment(payment) {
  const name = paymentName(payment);
  const most = refundable(payment);
  confirmAction({
    title: `Refund up to ${formatMoney(most, payment.currency)}?`,
    text: `Stripe returns the money to your card. The payment changes when Stripe confirms the refund.`,
    confirmLabel: "Refund",
    busyLabel: "Requesting refund…",
    amountCurrency: payment.currency,
    maxAmount: most,
    perform: async (amount) => {
      const body = amount ? { amount } : undefined;
      const result = await runAction(`refund:${payment.id}`, body ?? null, (key) => api(path(payment, "refund"), {
        method: "POST", body, idempotencyKey: key, context: { currency: payment.currency },
      }));
      refundRequested(payment, result.amount);
      refreshPayment(payment.id); // the server's copy: its refundingAmount says the refund is on its way
      toaster.show({
        kind: "info",
        title: "Refund requested",
        message: `${formatMoney(result.amount, payment.currency)} of ${name}: the payment changes when Stripe confirms it.`,
        link: { href: `#/payments/${payment.id}`, text: "View payment" },
      });
    },
  });
}
