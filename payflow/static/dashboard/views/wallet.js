/**
 * wallet.js — the influencer's balance summary per currency (available, pending in escrow, on the
 * way to the bank when the API gives it, owed) and their payouts, a requested one shown as such
 * until Stripe settles it.
 */
import { formatDateTime } from "../dates.js";
import { $, el, replaceRows, setListState, show, statusBadge } from "../dom.js";
import { loadMorePayouts } from "../data.js";
import { PAYOUT_FAILED, PAYOUT_STATUS, plainFailure } from "../labels.js";
import { formatMoney } from "../money.js";
import { newestFirst, on, state } from "../state.js";
import { toaster } from "../toaster.js";
import { openPayoutDialog } from "./dialogs.js";

function figure(label, amount, currency, className) {
  const group = el("div", `figure ${className}`);
  group.append(el("dt", null, label), el("dd", null, formatMoney(amount, currency)));
  return group;
}

function walletCard(wallet) {
  const card = el("div", "wallet");
  card.dataset.currency = wallet.currency;
  card.append(el("h3", "wallet__currency", wallet.currency.toUpperCase()));
  const figures = el("dl", "wallet__figures");
  figures.append(
    figure("Available", wallet.availableBalance, wallet.currency, "wallet__available"),
    figure("Pending in escrow", wallet.pendingBalance, wallet.currency, "wallet__pending"),
  );
  if (Number.isInteger(wallet.inTransitBalance)) {
    figures.append(figure("On the way to your bank", wallet.inTransitBalance, wallet.currency, "wallet__in-transit"));
  }
  if (wallet.receivableBalance) {
    figures.append(figure("Owed", wallet.receivableBalance, wallet.currency, "wallet__receivable"));
  }
  card.append(figures);
  if (wallet.receivableBalance) {
    card.append(el("p", "hint", "A refund took back more than your balance held: what you owe is settled from your next earnings."));
  }
  return card;
}

export function renderWallets() {
  const box = $("#wallets");
  const cards = [...state.wallets.values()].sort((a, b) => a.currency.localeCompare(b.currency)).map(walletCard);
  box.replaceChildren(...cards);
  setListState("wallets", { loaded: state.walletsLoaded, count: cards.length });
  $("#request-payout").disabled = ![...state.wallets.values()].some((wallet) => wallet.availableBalance > 0);
}

function payoutRow(payout) {
  const row = el("li", "item");
  row.dataset.payoutId = payout.id;
  row.dataset.key = payout.id;
  row.dataset.status = payout.status;
  const main = el("div", "item__main");
  main.append(el("span", "item__title", "Payout to your bank"), el("span", "item__meta", formatDateTime(payout.createdAt)));
  const side = el("div", "item__side");
  side.append(el("span", "amount", formatMoney(payout.amount, payout.currency)), statusBadge(payout.status, PAYOUT_STATUS));
  row.append(main, side);
  if (payout.status === "PENDING") {
    const note = el("p", "item__inflight", "Requested: waiting for Stripe to send it to your bank.");
    note.dataset.inflight = "payout";
    row.append(note);
  }
  if (["FAILED", "CANCELED"].includes(payout.status)) {
    const reason = payout.status === "FAILED" ? `${plainFailure(payout.failureMessage, PAYOUT_FAILED)} ` : "";
    row.append(el("p", "item__note", `${reason}The amount is back in your balance.`));
  }
  return row;
}

export function renderPayouts() {
  const list = $("#payouts");
  const rows = newestFirst(state.payouts.items).map(payoutRow);
  replaceRows(list, rows);
  setListState("payouts", { loaded: state.payouts.loaded, count: rows.length });
  show($("#payouts-more"), Boolean(state.payouts.cursor));
}

export function wireWallet() {
  on("wallets", renderWallets);
  on("payouts", renderPayouts);
  $("#request-payout").addEventListener("click", openPayoutDialog);
  $("#payouts-more").addEventListener("click", () => loadMorePayouts().catch((error) => {
    toaster.show({ kind: "error", title: "Could not load more", message: error.message });
  }));
}
