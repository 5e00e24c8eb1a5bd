/** labels.js — the words the page uses for states and for who paid whom. */
import { formatMoney } from "./money.js";
import { isCompany } from "./state.js";

export const PAYMENT_STATUS = {
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

export const PAYOUT_STATUS = {
  PENDING: "Payout requested",
  IN_TRANSIT: "On the way to your bank",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
};

export const PAYMENT_FAILED = "The payment did not go through.";
export const PAYOUT_FAILED = "Stripe could not send this payout.";

/** The other party of a payment, as the reader sees it. */
export function otherParty(payment) {
  return (isCompany() ? payment.influencerName : payment.companyName) || "someone";
}

/** "$50.00 to Riley Creator" (company) or "$50.00 from Acme Studios" (influencer). */
export function paymentPhrase(payment) {
  const amount = formatMoney(payment.amount, payment.currency);
  return isCompany() ? `${amount} to ${otherParty(payment)}` : `${amount} from ${otherParty(payment)}`;
}

/** "the $50.00 payment to Riley Creator": what a row's buttons name for a screen reader. */
export function paymentName(payment) {
  const amount = formatMoney(payment.amount, payment.currency);
  return isCompany() ? `the ${amount} payment to ${otherParty(payment)}` : `the ${amount} payment from ${otherParty(payment)}`;
}

/** The platform's part of what remains of a payment (the API gives the influencer's, `netAmount`). */
export function feeOf(payment) {
  return payment.amount - (payment.refundedAmount || 0) - payment.netAmount;
}

/** "10%" or "2.5%" from basis points, in the reader's locale. */
export function percent(bps) {
  return new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 2 }).format(bps / 10000);
}

export function firstName(name) {
  return String(name || "").split(/\s+/)[0] || name;
}

/**
 * A failure reason fit to show: Stripe's messages for people ("Your card was declined.", "The bank
 * account has been closed.") as they are; technical text (an API error, "Bad request") as a sentence.
 */
export function plainFailure(message, fallback) {
  if (!message) return fallback;
  if (/^Stripe .+ failed:|bad request|invalid request|api|http|exception|error:/i.test(message)) return fallback;
  return message;
}
