/**
 * payments.js — the payment lists: the company's (with filters, CSV and the new-payment form that
 * says what the influencer will receive) and the influencer's (with their net). Every row names
 * the other party and links to the payment's detail view.
 */
import { api, query } from "../api.js";
import { formatDateTime, dayRange } from "../dates.js";
import { $, el, link, replaceRows, setBusy, setFormError, setListState, show, statusBadge } from "../dom.js";
import { loadMorePayments, paymentFilters, reloadPayments } from "../data.js";
import { feeOf, firstName, otherParty, PAYMENT_FAILED, PAYMENT_STATUS, paymentName, percent, plainFailure } from "../labels.js";
import { formatMoney, parseMoney } from "../money.js";
import { isCompany, newestFirst, on, putPayment, state } from "../state.js";
import { toaster } from "../toaster.js";
import { openPayDialog } from "./dialogs.js";
import { actionButtons, inFlightNote } from "./payment-actions.js";

export function listId() {
  return isCompany() ? "company-payments" : "influencer-payments";
}

/** The fee and net line: what each side gets of what remains of the payment. */
function shareNote(payment) {
  if (["CANCELED", "REFUNDED"].includes(payment.status) || payment.netAmount === undefined) return null;
  const net = formatMoney(payment.netAmount, payment.currency);
  const fee = formatMoney(feeOf(payment), payment.currency);
  const released = Boolean(payment.releasedAt);
  if (isCompany()) {
    return released
      ? `${firstName(payment.influencerName)} received ${net} · platform fee ${fee}`
      : `${firstName(payment.influencerName)} will receive ${net} · platform fee ${fee} (${percent(payment.feeBps)})`;
  }
  const gross = formatMoney(payment.amount - (payment.refundedAmount || 0), payment.currency);
  return `${gross} paid · platform fee ${fee} (${percent(payment.feeBps)})`;
}

export function paymentRow(payment) {
  const row = el("li", "item");
  row.dataset.paymentId = payment.id;
  row.dataset.key = payment.id;
  row.dataset.status = payment.status;

  const main = el("div", "item__main");
  main.append(el("span", "item__title", payment.description || "Payment"));
  const party = el("span", "item__party", isCompany() ? `To ${otherParty(payment)}` : `From ${otherParty(payment)}`);
  main.append(party, el("span", "item__meta", formatDateTime(payment.createdAt)));
  row.append(main);

  const side = el("div", "item__side");
  if (isCompany()) {
    side.append(el("span", "amount", formatMoney(payment.amount, payment.currency)));
  } else {
    const net = el("span", "amount", formatMoney(payment.netAmount, payment.currency));
    net.title = "What you receive, after the platform fee";
    side.append(net);
  }
  side.append(statusBadge(payment.status, PAYMENT_STATUS));
  row.append(side);

  const notes = [];
  if (payment.status === "FAILED") notes.push(plainFailure(payment.failureMessage, PAYMENT_FAILED));
  const share = shareNote(payment);
  if (share) notes.push(share);
  if (payment.refundedAmount) notes.push(`${formatMoney(payment.refundedAmount, payment.currency)} refunded`);
  if (notes.length) row.append(el("p", "item__note", notes.join(" · ")));
  const inflight = inFlightNote(payment);
  if (inflight) row.append(inflight);

  const actions = el("div", "item__actions");
  actions.append(...actionButtons(payment));
  const details = link("Details", `#/payments/${payment.id}`, "button-link small", `Details of ${paymentName(payment)}`);
  details.dataset.action = "details";
  actions.append(details);
  row.append(actions);
  return row;
}

export function renderPayments() {
  const id = listId();
  const list = document.getElementById(id);
  if (!list) return;
  const rows = newestFirst(state.payments.items).map(paymentRow);
  replaceRows(list, rows);
  setListState(id, { loaded: state.payments.loaded, count: rows.length });
  show(document.getElementById(`${id}-more`), Boolean(state.payments.cursor));
}

// --- the company's filters and CSV ------------------------------------------------------------

function readFilters() {
  const { from, to } = dayRange($("#payments-from").value, $("#payments-to").value);
  return { currency: $("#payments-currency").value, from, to };
}

function updateCsvLink() {
  $("#payments-csv").href = `/payments.csv${query(paymentFilters)}`;
}

async function applyFilters() {
  const next = readFilters();
  if (next.from && next.to && next.from >= next.to) {
    setFormError($("#payments-filters"), "The first day must be before the last.");
    return;
  }
  setFormError($("#payments-filters"), "");
  Object.assign(paymentFilters, next);
  updateCsvLink();
  try {
    await reloadPayments();
  } catch (error) {
    toaster.show({ kind: "error", title: "Could not load your payments", message: error.message });
  }
}

// --- the new payment form ----------------------------------------------------------------------

let quoteTimer = null;
let quoteSeq = 0;

/** "The influencer receives $45.00 (platform fee $5.00, 10%)", from the server's fee rule. */
function updateQuote() {
  clearTimeout(quoteTimer);
  const box = $("#payment-quote");
  const currency = $("#payment-currency").value;
  let amount;
  try {
    amount = parseMoney($("#payment-amount").value, currency);
  } catch {
    box.textContent = "";
    return;
  }
  const mine = ++quoteSeq;
  quoteTimer = setTimeout(async () => {
    try {
      const quote = await api(`/payments/quote${query({ amount, currency })}`);
      if (mine !== quoteSeq) return;
      box.textContent = `The influencer receives ${formatMoney(quote.netAmount, currency)} `
        + `(platform fee ${formatMoney(quote.feeAmount, currency)}, ${percent(quote.feeBps)}).`;
    } catch {
      if (mine === quoteSeq) box.textContent = "";
    }
  }, 200);
}

async function submitNewPayment(event) {
  event.preventDefault();
  const form = $("#payment-form");
  if (form.getAttribute("aria-busy") === "true") return;
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
      influencer = await api(`/influencers${query({ email })}`);
    } catch (error) {
      throw error.status === 404 ? new Error(`No influencer has the email ${email}.`) : error;
    }
    const payment = await api("/payments", {
      method: "POST",
      body: { influencerId: influencer.id, amount, currency, description: $("#payment-description").value.trim() },
      context: { currency },
    });
    putPayment(payment);
    form.reset();
    $("#payment-quote").textContent = "";
    openPayDialog(payment.id);
  } catch (error) {
    setFormError(form, error.message);
  } finally {
    setBusy(form, false);
  }
}

export function wirePayments() {
  on("payments", renderPayments);
  $("#payment-form").addEventListener("submit", submitNewPayment);
  $("#payment-amount").addEventListener("input", updateQuote);
  $("#payment-currency").addEventListener("change", updateQuote);
  $("#payments-filters").addEventListener("change", applyFilters);
  $("#payments-filters").addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  for (const id of ["company-payments-more", "influencer-payments-more"]) {
    $(`#${id}`).addEventListener("click", () => loadMorePayments().catch((error) => {
      toaster.show({ kind: "error", title: "Could not load more", message: error.message });
    }));
  }
  updateCsvLink();
}
