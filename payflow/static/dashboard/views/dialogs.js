/**
 * dialogs.js — the confirm dialog of money-moving actions, the card dialog and the payout dialog.
 *
 * A dialog that moves money stays open while its request is in flight, its button busy; an error
 * is shown in it in plain words and "try again" sends the same action again (same Idempotency-Key,
 * see actions.js); it closes when the server has taken the request.
 */
import { runAction } from "../actions.js";
import { api } from "../api.js";
import { config } from "../config.js";
import { refreshPayout } from "../data.js";
import { $, el, setBusy, setFormError, show } from "../dom.js";
import { formatMoney, parseMoney } from "../money.js";
import { putPayment, putPayout, state } from "../state.js";

export function wireDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    for (const closer of dialog.querySelectorAll("[data-close]")) closer.addEventListener("click", () => dialog.close());
  }
  $("#pay-form").addEventListener("submit", submitPayment);
  $("#payout-form").addEventListener("submit", submitPayout);
  $("#action-form").addEventListener("submit", submitAction);
}

// --- confirm ---------------------------------------------------------------------------------

let pendingAction = null;

/**
 * Ask before an action, then run it from the dialog: `perform(amount)` (amount null: all of it,
 * or no amount asked) must return a promise; the dialog closes when it resolves.
 */
export function confirmAction({ title, text, confirmLabel, busyLabel, amountCurrency, maxAmount, perform }) {
  const dialog = $("#action-dialog");
  const form = $("#action-form");
  if (dialog.open) return;
  form.reset();
  setFormError(form, "");
  $("#action-title").textContent = title;
  $("#action-text").textContent = text;
  $("#action-confirm").textContent = confirmLabel;
  $("#action-confirm").dataset.label = confirmLabel;
  $("#action-confirm").dataset.busyLabel = busyLabel || confirmLabel;
  show($("#action-amount-field"), Boolean(amountCurrency));
  pendingAction = { amountCurrency, maxAmount, perform };
  dialog.showModal();
}

async function submitAction(event) {
  event.preventDefault();
  const form = $("#action-form");
  const confirm = $("#action-confirm");
  if (!pendingAction || confirm.disabled) return;
  const { amountCurrency, maxAmount, perform } = pendingAction;
  setFormError(form, "");
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
  setBusy(form, true);
  confirm.textContent = confirm.dataset.busyLabel;
  try {
    await perform(amount);
    pendingAction = null;
    $("#action-dialog").close();
  } catch (error) {
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
    confirm.textContent = confirm.dataset.label;
  }
}

// --- paying a payment --------------------------------------------------------------------------

let stripeLoader = null;
let stripeCard = null;
let payingId = null;

function loadStripe() {
  stripeLoader ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "https://js.stripe.com/v3/";
    script.onload = () => resolve(window.Stripe(config.stripePublishableKey));
    script.onerror = () => {
      stripeLoader = null;
      reject(new Error("Stripe's card form could not be loaded. Check your connection and try again."));
    };
    document.head.append(script);
  });
  return stripeLoader;
}

export async function openPayDialog(paymentId) {
  const payment = state.payments.items.get(paymentId);
  if (!payment) return;
  payingId = paymentId;
  const dialog = $("#pay-dialog");
  const form = $("#pay-form");
  if (dialog.open) return;
  form.reset();
  setFormError(form, "");
  const amount = formatMoney(payment.amount, payment.currency);
  $("#pay-title").textContent = `Pay ${amount}`;
  $("#pay-submit").textContent = `Pay ${amount}`;
  $("#pay-summary").textContent = [`To ${payment.influencerName}`, payment.description].filter(Boolean).join(" · ");
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
  const payment = state.payments.items.get(payingId);
  if (!payment || $("#pay-submit").disabled) return;
  setFormError(form, "");
  try {
    if (config.stripePublishableKey) {
      if (!stripeCard) throw new Error("The card form is still loading.");
      setBusy(form, true);
      const result = await stripeCard.stripe.confirmCardPayment(payment.clientSecret, { payment_method: { card: stripeCard.card } });
      if (result.error && result.error.type !== "card_error") throw new Error("The card could not be charged. Try again.");
      // Declined or paid: Stripe tells payflow by webhook, and the stream tells this page.
      $("#pay-dialog").close();
      return;
    }
    const number = $("#card-number").value.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number)) throw new Error("Enter the card number (12 to 19 digits).");
    const { month, year } = parseExpiry($("#card-expiry").value);
    const cvc = $("#card-cvc").value.trim();
    if (!/^\d{3,4}$/.test(cvc)) throw new Error("The CVC has 3 or 4 digits.");
    const body = { number, expMonth: month, expYear: year, cvc };
    setBusy(form, true);
    const paid = await runAction(`pay:${payment.id}`, body, (key) => api(`/payments/${encodeURIComponent(payment.id)}/test-card`, {
      method: "POST", body, idempotencyKey: key, context: { currency: payment.currency },
    }));
    putPayment(paid);
    $("#pay-dialog").close();
  } catch (error) {
    if (error.code === "card_declined" && error.details?.payment) {
      // Recorded as FAILED: the row says why and offers Retry; the stream brings the toast.
      putPayment(error.details.payment);
      $("#pay-dialog").close();
      return;
    }
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
  }
}

// --- payouts -----------------------------------------------------------------------------------

export function openPayoutDialog() {
  const dialog = $("#payout-dialog");
  const form = $("#payout-form");
  if (dialog.open) return;
  form.reset();
  setFormError(form, "");
  const select = $("#payout-currency");
  const funded = [...state.wallets.values()].filter((wallet) => wallet.availableBalance > 0);
  select.replaceChildren(...funded.map((wallet) => {
    const option = el("option", null, wallet.currency.toUpperCase());
    option.value = wallet.currency;
    return option;
  }));
  const describe = () => {
    const wallet = state.wallets.get(select.value);
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
  const submit = form.querySelector("button[type=submit]");
  if (submit.disabled) return;
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
  submit.textContent = "Requesting…";
  const body = { amount, currency };
  try {
    const payout = await runAction("payout", body, (key) => api("/payouts", {
      method: "POST", body, idempotencyKey: key, context: { currency },
    }));
    putPayout(payout);
    $("#payout-dialog").close();
  } catch (error) {
    if (error.details?.payoutId) refreshPayout(error.details.payoutId);
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
    submit.textContent = "Request payout";
  }
}
