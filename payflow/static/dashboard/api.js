/**
 * api.js — the JSON API with the HttpOnly login cookies, and errors in plain words.
 *
 * Requests that change something echo the csrf_access_token cookie as X-CSRF-TOKEN (double-submit
 * protection) and may carry an Idempotency-Key. An expired access cookie is renewed with the
 * refresh cookie, once, before the request is given up. Errors become ApiError, whose `message`
 * is written for the person using the page: the server's and Stripe's own wording ("Bad request",
 * a validation path) never reaches the screen.
 */
import { readCookie } from "../payflow-client.js";
import { formatMoney } from "./money.js";

const SESSION_PATHS = /^\/auth\/(login|register|refresh|logout)\b/; // a 401 there is an answer, not an expiry

let refreshing = null;
let onSessionEnded = () => {};

/** What to do when the session is over (sign-out, with a message). */
export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

export class ApiError extends Error {
  constructor(status, body, context = {}) {
    const error = (body && body.error) || {};
    super(plainMessage(status, error, context));
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "error");
    this.details = error;
  }

  /** True when the server answered and the action is over (not a lost answer that a retry may resolve). */
  get definitive() {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

/**
 * The sentence a person reads for an error. `context.currency` lets amounts in the details be
 * formatted in the reader's locale.
 */
export function plainMessage(status, error = {}, context = {}) {
  const money = (amount) => (context.currency && Number.isInteger(amount) ? formatMoney(amount, context.currency) : null);
  switch (error.code) {
    case "card_declined":
      // Stripe's decline messages are written for card holders ("Your card was declined.").
      return error.message && !/^(bad request|invalid|error)/i.test(error.message) ? error.message : "The card was declined.";
    case "insufficient_funds": {
      const available = money(error.availableBalance);
      return available ? `That is more than your available balance of ${available}.` : "That is more than your available balance.";
    }
    case "payout_amount_not_payable": {
      const largest = money(error.largestPayableAmount);
      const least = money(error.minimumAmount);
      return "Stripe cannot pay out this amount"
        + (least ? ` (it pays out at least ${least}, in amounts it can send)` : "")
        + (error.largestPayableAmount > 0 && largest ? `. The most you can withdraw now is ${largest}.` : ".");
    }
    case "idempotency_key_reused":
      return "This was already sent with other details. Start again.";
    case "refund_exceeds_payment": {
      const most = money(error.refundable);
      return most ? `At most ${most} can be refunded.` : "That is more than can be refunded.";
    }
    case "invalid_transition":
      return "This payment has changed in the meantime; the page now shows where it stands.";
    case "unknown_influencer":
      return "No influencer has that email.";
    case "invalid_credentials":
      return "Wrong email or password.";
    case "email_taken":
      return "An account with this email already exists: sign in instead.";
    case "payouts_not_enabled":
      return "Set up payouts with Stripe before requesting one.";
    case "network":
      return "payflow cannot be reached. Check your connection and try again.";
    default:
      break;
  }
  if (status === 0) return "payflow cannot be reached. Check your connection and try again.";
  if (status === 401) return "Your session has ended. Sign in again.";
  if (status === 403) return "Your account cannot do this.";
  if (status === 404) return "This could not be found: it may not exist, or not be yours.";
  if (status === 409) return "This was already sent with other details, or the payment has changed. Reload and try again.";
  if (status === 429) return "Too many attempts. Wait a moment and try again.";
  if (status === 400) return "Something in what was entered is not valid. Check it and try again.";
  if (status === 502) return "Stripe could not complete this just now. Nothing was charged or moved; try again in a moment.";
  if (status >= 500) return "Something went wrong on our side. Try again in a moment.";
  return "That did not work. Try again.";
}

/** Renew the access cookie with the refresh cookie; true when the session goes on. */
export function refreshSession() {
  const token = readCookie("csrf_refresh_token");
  if (!token) return Promise.resolve(false);
  refreshing ??= fetch("/auth/refresh", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-TOKEN": token },
  })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return refreshing;
}

/**
 * `api(path, { method, body, idempotencyKey, context })` → the JSON answer, or throws ApiError.
 * `context` (e.g. `{ currency }`) helps word the error.
 */
export async function api(path, { method = "GET", body, idempotencyKey, context } = {}, retried = false) {
  if (!readCookie("csrf_access_token") && readCookie("csrf_refresh_token")) await refreshSession();
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    const csrf = readCookie("csrf_access_token");
    if (csrf) headers["X-CSRF-TOKEN"] = csrf;
  }
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: { code: "network" } }, context);
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 && !retried && !SESSION_PATHS.test(path) && (await refreshSession())) {
    return api(path, { method, body, idempotencyKey, context }, true);
  }
  if (response.status === 401 && !SESSION_PATHS.test(path)) onSessionEnded();
  if (!response.ok) throw new ApiError(response.status, data, context);
  return data;
}

/** A query string from the non-empty values of `params` ("" when all are empty). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}
