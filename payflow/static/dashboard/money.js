/**
 * money.js — amounts in integer minor units, shown and typed in the reader's locale.
 *
 * The number of digits of each currency's minor unit (Stripe's: 2 for USD, 0 for JPY) comes from
 * the server, in the page config (`currencies`), never from a copy here. Amounts are turned into
 * an exact decimal string with integer arithmetic (BigInt) and handed to Intl.NumberFormat as a
 * string, so no amount ever passes through a float.
 *
 *   formatMoney(4500, "usd")                 → "$45.00" (en-US), "45,00 $" (de-DE)
 *   formatMoney(-900, "eur", { sign: true }) → "-€9.00"; sign: true also gives "+€9.00"
 *   parseMoney("1.234,5", "eur")             → 123450 (de-DE); throws an Error with a sentence
 */
import { config } from "./config.js";

export const MAX_AMOUNT = 99999999; // Stripe's ceiling for one charge, in minor units

const exponents = config.currencies || {};
const formatters = new Map();

/** Digits after the decimal point in `currency`'s amounts (the server's table; 2 if unknown). */
export function exponentOf(currency) {
  const exponent = exponents[String(currency).toLowerCase()];
  return Number.isInteger(exponent) ? exponent : 2;
}

/** 4500, "usd" → "45.00"; -5, "usd" → "-0.05"; 500, "jpy" → "500" (a dot, no grouping). */
export function decimalString(amount, currency) {
  const exponent = exponentOf(currency);
  const minor = BigInt(Math.trunc(Number(amount) || 0));
  const sign = minor < 0n ? "-" : "";
  const digits = (minor < 0n ? -minor : minor).toString();
  if (exponent === 0) return `${sign}${digits}`;
  const padded = digits.padStart(exponent + 1, "0");
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

function formatter(currency, exponent, sign) {
  const key = `${currency}:${exponent}:${sign}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: currency.toUpperCase(),
      minimumFractionDigits: exponent,
      maximumFractionDigits: exponent,
      signDisplay: sign ? "exceptZero" : "auto",
    }));
  }
  return formatters.get(key);
}

/** An amount in minor units as the reader's locale writes money; `sign: true` adds "+" to gains. */
export function formatMoney(amount, currency, { sign = false } = {}) {
  const code = String(currency || "").toLowerCase();
  return formatter(code, exponentOf(code), sign).format(decimalString(amount, code));
}

const compactFormatters = new Map();

/** A short form for chart axes: "$1.2K", "12 Tsd. €". */
export function formatMoneyCompact(amount, currency) {
  const code = String(currency || "").toLowerCase();
  if (!compactFormatters.has(code)) {
    compactFormatters.set(code, new Intl.NumberFormat(undefined, {
      style: "currency", currency: code.toUpperCase(), notation: "compact", maximumFractionDigits: 1,
    }));
  }
  return compactFormatters.get(code).format(decimalString(amount, code));
}

/** The reader's decimal and grouping separators. */
function separators() {
  const parts = new Intl.NumberFormat(undefined).formatToParts(12345.6);
  return {
    decimal: parts.find((part) => part.type === "decimal")?.value || ".",
    group: parts.find((part) => part.type === "group")?.value || ",",
  };
}

/** An example amount in the reader's format, for messages: "49.99" or "49,99". */
export function exampleAmount(currency) {
  return exponentOf(currency) === 0 ? "5000" : `49${separators().decimal}99`;
}

/**
 * What the reader typed, in minor units. Accepts the locale's own separators ("1,234.50" or
 * "1.234,50") and either "." or "," as the decimal point when that is unambiguous ("45,5");
 * grouping must be in threes. Throws an Error whose message says what to type instead.
 */
export function parseMoney(text, currency) {
  const exponent = exponentOf(currency);
  const code = String(currency).toUpperCase();
  const unreadable = () => new Error(exponent === 0
    ? `Enter a whole number of ${code}, such as ${exampleAmount(currency)}.`
    : `Enter an amount such as 50 or ${exampleAmount(currency)}.`);
  const value = String(text ?? "").trim().replace(/[\s\u00a0\u202f'_]/g, "");
  if (!/^\d([\d.,]*\d)?$/.test(value)) throw unreadable();
  const marks = value.replace(/\d/g, "");
  const kinds = [...new Set(marks)];
  if (kinds.length > 2) throw unreadable();
  // Which mark, if any, is the decimal point: the later kind when both appear; a single mark
  // when it is the reader's own decimal point or cannot be grouping (not followed by three digits).
  let decimalMark = null;
  if (kinds.length === 2) {
    decimalMark = value[Math.max(value.lastIndexOf("."), value.lastIndexOf(","))];
  } else if (marks.length === 1) {
    const tail = value.slice(value.indexOf(marks) + 1);
    if (marks === separators().decimal || tail.length !== 3) decimalMark = marks;
  }
  let whole = value;
  let fraction = "";
  if (decimalMark) {
    const at = value.lastIndexOf(decimalMark);
    whole = value.slice(0, at);
    fraction = value.slice(at + 1);
    if (whole.includes(decimalMark)) throw new Error(`Use one decimal point, as in ${exampleAmount(currency)}.`);
  }
  if (/[.,]/.test(whole) && !/^\d{1,3}([.,]\d{3})*$/.test(whole)) throw unreadable();
  if (fraction.length > exponent) {
    throw new Error(exponent === 0
      ? `Enter a whole number of ${code} (no decimals).`
      : `${code} has at most ${exponent} decimals.`);
  }
  const minor = BigInt(whole.replace(/[.,]/g, "")) * 10n ** BigInt(exponent) + BigInt(fraction.padEnd(exponent, "0") || "0");
  if (minor <= 0n) throw new Error("The amount must be more than zero.");
  if (minor > BigInt(MAX_AMOUNT)) throw new Error(`The amount can be at most ${formatMoney(MAX_AMOUNT, currency)}.`);
  return Number(minor);
}
