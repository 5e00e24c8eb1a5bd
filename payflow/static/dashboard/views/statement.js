/**
 * statement.js — the influencer's statement: one line per movement of their money (a release is
 * one line with its net), the balance after each, filters by currency and the reader's calendar
 * days, "Load more", and the same lines as a CSV download.
 */
import { api, query } from "../api.js";
import { dayRange, formatDateTime } from "../dates.js";
import { $, el, link, setFormError, setListState, show } from "../dom.js";
import { formatMoney } from "../money.js";
import { on, state } from "../state.js";
import { toaster } from "../toaster.js";

const statement = { lines: [], cursor: null, loaded: false, filters: { currency: "", from: "", to: "" } };
let generation = 0;

/** What a line says, in words: "Payment from Acme Studios released". */
function describe(line) {
  const company = line.counterpartyName || "the company";
  switch (line.type) {
    case "release":
      return `Payment from ${company} released`;
    case "clawback":
      return `Refund to ${company} taken back`;
    case "payout":
      return "Payout to your bank";
    case "payout_returned":
      return "Payout returned to your balance";
    case "refund_reversed":
      return `Refund to ${company} failed: back in your balance`;
    default:
      return line.description || line.type.replace(/_/g, " ");
  }
}

function detail(line) {
  const parts = [];
  if (line.paymentDescription) parts.push(line.paymentDescription);
  if (line.feeAmount) {
    const fee = formatMoney(line.feeAmount, line.currency);
    parts.push(line.type === "clawback" ? `platform fee ${fee} returned too` : `platform fee ${fee}`);
  }
  return parts.join(" · ");
}

function lineRow(line) {
  const row = el("tr");
  row.dataset.lineId = line.id;
  row.dataset.type = line.type;
  const date = el("td", "statement__date");
  const time = el("time", null, formatDateTime(line.createdAt));
  time.dateTime = line.createdAt;
  date.append(time);
  const what = el("td", "statement__what");
  const title = line.paymentId
    ? link(describe(line), `#/payments/${line.paymentId}`, "statement__link")
    : el("span", "statement__title", describe(line));
  what.append(title);
  const more = detail(line);
  if (more) what.append(el("span", "statement__detail", more));
  const amount = el("td", `num statement__amount ${line.amount < 0 ? "negative" : "positive"}`,
    formatMoney(line.amount, line.currency, { sign: true }));
  amount.dataset.label = "Amount";
  const balance = el("td", "num statement__balance", formatMoney(line.balance, line.currency));
  balance.dataset.label = "Balance";
  row.append(date, what, amount, balance);
  return row;
}

export function renderStatement() {
  const rows = statement.lines.map(lineRow);
  $("#statement").replaceChildren(...rows);
  setListState("statement", { loaded: statement.loaded, count: rows.length });
  show($("#statement-more"), Boolean(statement.cursor));
}

function statementPath(extra = {}) {
  return `/wallet/statement${query({ ...statement.filters, ...extra })}`;
}

/** The first page again (after a filter changed, or money moved). */
export async function reloadStatement() {
  if (state.user?.role !== "influencer") return; // signed out meanwhile
  const mine = ++generation;
  try {
    const page = await api(statementPath());
    if (mine !== generation) return;
    statement.lines = page.items;
    statement.cursor = page.nextCursor;
    statement.loaded = true;
    renderStatement();
  } catch (error) {
    if (error.status !== 401) toaster.show({ kind: "error", title: "Could not load your statement", message: error.message });
  }
}

async function loadMore() {
  if (!statement.cursor) return;
  const mine = generation;
  try {
    const page = await api(statementPath({ cursor: statement.cursor }));
    if (mine !== generation) return;
    statement.lines = [...statement.lines, ...page.items];
    statement.cursor = page.nextCursor;
    renderStatement();
  } catch (error) {
    toaster.show({ kind: "error", title: "Could not load more", message: error.message });
  }
}

function updateCsvLink() {
  $("#statement-csv").href = `/wallet/statement.csv${query(statement.filters)}`;
}

/** The currency filter offers every currency the influencer has a wallet in. */
function renderCurrencyOptions() {
  const select = $("#statement-currency");
  const current = select.value;
  const options = [el("option", null, "All currencies")];
  options[0].value = "";
  for (const currency of [...state.wallets.keys()].sort()) {
    const option = el("option", null, currency.toUpperCase());
    option.value = currency;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = [...select.options].some((option) => option.value === current) ? current : "";
}

function applyFilters() {
  const form = $("#statement-filters");
  const { from, to } = dayRange($("#statement-from").value, $("#statement-to").value);
  if (from && to && from >= to) {
    setFormError(form, "The first day must be before the last.");
    return;
  }
  setFormError(form, "");
  statement.filters = { currency: $("#statement-currency").value, from, to };
  statement.loaded = false;
  statement.lines = [];
  renderStatement();
  updateCsvLink();
  reloadStatement();
}

let reloadTimer = null;
/** Money moved: the statement's first page again, once the burst of updates is over. */
export function reloadStatementSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reloadStatement, 150);
}

export function resetStatement() {
  clearTimeout(reloadTimer);
  generation += 1;
  statement.lines = [];
  statement.cursor = null;
  statement.loaded = false;
  statement.filters = { currency: "", from: "", to: "" };
  $("#statement-filters").reset();
  updateCsvLink();
  renderStatement();
}

export function wireStatement() {
  on("wallets", renderCurrencyOptions);
  $("#statement-filters").addEventListener("change", applyFilters);
  $("#statement-filters").addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  $("#statement-more").addEventListener("click", loadMore);
  updateCsvLink();
}
