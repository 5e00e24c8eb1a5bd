/**
 * earnings.js — what was released to the influencer per day (30 days) or month (12 months), as a
 * bar chart drawn here in SVG from one call to GET /wallet/earnings (every bucket of every
 * currency at once, so switching currency needs no request). It is drawn at the container's own
 * pixel width, so its text stays readable on a phone, and redrawn when a wallet:update arrives.
 *
 * Hand-drawn rather than a charting library: one kind of chart (bars on a zero baseline, a few
 * gridlines, a label per week or month) is about a hundred lines, needs no build step or vendored
 * bundle, and stays within the page's Content-Security-Policy (no inline styles or eval).
 * Screen readers get the same figures as a table.
 */
import { api, query } from "../api.js";
import { formatDay, formatMonth, formatMonthShort, timeZone } from "../dates.js";
import { $, el, show } from "../dom.js";
import { exponentOf, formatMoney, formatMoneyCompact } from "../money.js";
import { state } from "../state.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 200;
const MARGIN = { top: 12, right: 8, bottom: 26, left: 52 };

const chart = { period: "day", currency: "", data: new Map(), loading: false };
let generation = 0;

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The top of the axis and the gridline step, in minor units: whole major units (1, 2 or 5 × 10ⁿ
 * of them per gridline, four gridlines at most) above the highest bar, so the labels are round.
 */
function niceScale(max, currency) {
  const unit = 10 ** exponentOf(currency);
  const rough = Math.max(max / unit, 1) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough);
  const wholeStep = Math.max(1, Math.round(step)) * unit;
  return { top: wholeStep * Math.max(1, Math.ceil(max / wholeStep)), step: wholeStep };
}

function labelOf(item) {
  return chart.period === "day" ? formatDay(item.date) : formatMonth(item.date);
}

function draw(series) {
  const box = $("#earnings-chart");
  const width = Math.max(260, Math.floor(box.clientWidth));
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const items = series.items;
  const { top, step } = niceScale(Math.max(...items.map((item) => item.amount)), series.currency);
  const y = (amount) => MARGIN.top + plotHeight - (amount / top) * plotHeight;
  const band = plotWidth / items.length;

  const root = svg("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img", "aria-labelledby": "earnings-summary" });
  root.classList.add("chart");
  for (let value = 0; value <= top; value += step) {
    root.append(
      svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(value), y2: y(value), class: value === 0 ? "chart__axis" : "chart__grid" }),
      svg("text", { x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end", class: "chart__label" }, formatMoneyCompact(value, series.currency)),
    );
  }
  items.forEach((item, index) => {
    if (item.amount <= 0) return;
    const bar = svg("rect", {
      x: MARGIN.left + index * band + band * 0.15, width: Math.max(1, band * 0.7), y: y(item.amount),
      height: y(0) - y(item.amount), rx: 2, class: "chart__bar",
    });
    bar.dataset.date = item.date;
    bar.append(svg("title", {}, `${labelOf(item)}: ${formatMoney(item.amount, series.currency)}`));
    root.append(bar);
  });
  // Labels from today backwards, one per week or month, each only where it does not run into
  // the one after it (text width estimated from its length: the SVG is not laid out yet).
  const every = chart.period === "day" ? 7 : 1;
  let nextLeft = width;
  for (let index = items.length - 1; index >= 0; index -= every) {
    const text = chart.period === "day" ? formatDay(items[index].date) : formatMonthShort(items[index].date);
    const textWidth = text.length * 6.5;
    const centre = Math.min(MARGIN.left + (index + 0.5) * band, width - MARGIN.right - textWidth / 2);
    if (centre + textWidth / 2 > nextLeft - 6) continue;
    root.append(svg("text", { x: centre, y: HEIGHT - 8, "text-anchor": "middle", class: "chart__label" }, text));
    nextLeft = centre - textWidth / 2;
  }
  box.replaceChildren(root);
}

function drawTable(series) {
  const body = $("#earnings-table tbody");
  body.replaceChildren(...series.items.map((item) => {
    const row = el("tr");
    row.append(el("th", null, labelOf(item)), el("td", null, formatMoney(item.amount, series.currency)));
    return row;
  }));
}

function currentSeries() {
  const data = chart.data.get(chart.period);
  if (!data) return null;
  return data.currencies.find((series) => series.currency === chart.currency) || data.currencies[0] || null;
}

export function renderEarnings() {
  const series = currentSeries();
  const card = $("#earnings-card");
  const data = chart.data.get(chart.period);
  show($("#earnings-loading"), !data);
  show($("#earnings-empty"), Boolean(data) && !series);
  show($("#earnings-body"), Boolean(series));
  card.setAttribute("aria-busy", data ? "false" : "true");
  const select = $("#earnings-currency");
  const currencies = data ? data.currencies.map((item) => item.currency) : [];
  show($("#earnings-currency-field"), currencies.length > 1);
  if (select.options.length !== currencies.length || [...select.options].some((option, index) => option.value !== currencies[index])) {
    select.replaceChildren(...currencies.map((currency) => {
      const option = el("option", null, currency.toUpperCase());
      option.value = currency;
      return option;
    }));
  }
  if (!series) return;
  chart.currency = series.currency;
  select.value = series.currency;
  const span = chart.period === "day" ? "the last 30 days" : "the last 12 months";
  $("#earnings-summary").textContent = `Released to you in ${span}: ${formatMoney(series.total, series.currency)}`;
  draw(series);
  drawTable(series);
}

/** One call for the chosen period (all currencies); the other period is fetched again when chosen. */
export async function loadEarnings() {
  if (state.user?.role !== "influencer") return; // signed out meanwhile
  const mine = ++generation;
  const period = chart.period;
  try {
    const data = await api(`/wallet/earnings${query({ period, tz: timeZone() })}`);
    if (mine !== generation) return;
    chart.data.set(period, data);
    renderEarnings();
  } catch {
    // shown again on the next wallet update or reload
  }
}

let reloadTimer = null;
export function reloadEarningsSoon() {
  clearTimeout(reloadTimer);
  chart.data = new Map([[chart.period, chart.data.get(chart.period)]].filter(([, data]) => data));
  reloadTimer = setTimeout(loadEarnings, 200);
}

export function resetEarnings() {
  clearTimeout(reloadTimer);
  generation += 1;
  chart.data = new Map();
  chart.currency = "";
  chart.period = "day";
  $("#earnings-period-day").checked = true;
  renderEarnings();
}

export function wireEarnings() {
  for (const input of document.querySelectorAll('input[name="earnings-period"]')) {
    input.addEventListener("change", () => {
      chart.period = input.value;
      renderEarnings();
      if (!chart.data.has(chart.period)) loadEarnings();
    });
  }
  $("#earnings-currency").addEventListener("change", (event) => {
    chart.currency = event.target.value;
    renderEarnings();
  });
  let frame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => { if (currentSeries() && state.user) draw(currentSeries()); });
  }).observe($("#earnings-chart"));
}
