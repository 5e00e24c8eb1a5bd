/**
 * payflow-client.js — live payment updates in the browser, without a framework.
 *
 * Wraps EventSource on GET /payments/stream (SPEC section 6) and keeps it alive:
 *
 *   import { createPaymentClient } from "/static/payflow-client.js";
 *
 *   const client = createPaymentClient({ baseUrl: "", credentials: "same-origin" });
 *   const off = client.on("payment:update", (data) => console.log(data.status, data.message));
 *   client.on("state", (state) => badge.textContent = state === "live" ? "Live" : "Reconnecting…");
 *   client.on("resync", () => reloadEverything());   // history could not fill a gap: refetch
 *   ...
 *   off();            // unsubscribe one callback
 *   client.close();   // stop for good (sign-out, page teardown)
 *
 * createPaymentClient(options) — options (all optional):
 *   baseUrl        where payflow is served: "" (same origin, the default) or "https://api.example.com".
 *   credentials    "same-origin" (default) or "include". Cross-origin or "include" opens the
 *                  EventSource withCredentials and sends fetches with credentials "include";
 *                  the server must list this page's origin in FRONTEND_URL.
 *   refresh        async () => boolean: renew the access token before a reconnect. The default
 *                  POSTs /auth/refresh with the refresh cookie and its CSRF cookie
 *                  (csrf_refresh_token) as X-CSRF-TOKEN; it resolves false when the session is
 *                  over (401/403/422) and throws when the server cannot be reached (retried).
 *   csrfToken      (name) => string|null: the CSRF cookie value to echo. The default reads
 *                  document.cookie, which works same-origin; a cross-origin page must supply it.
 *   streamToken    async () => string: a short-lived token from POST /payments/stream/token,
 *                  put in ?token= (for pages that authenticate with a Bearer header instead of
 *                  the login cookie). Asked for on every (re)connect.
 *   initialDelay   first reconnect delay in ms (default 500); doubles per failure ...
 *   maxDelay       ... up to this cap in ms (default 10000), with ±20% jitter.
 *   autoStart      open the stream at once (default true); otherwise call client.start().
 *   EventSource, fetch   injectable for tests and non-window environments.
 *
 * The returned client:
 *   connected      true while a stream is open ("live").
 *   state          "connecting" (first connection) | "live" | "reconnecting" | "closed".
 *   lastEventId    the id of the last event received; sent back as ?lastEventId= on reconnect.
 *   paymentUpdate, walletUpdate, payoutUpdate
 *                  the data of the latest event of each kind (null before any);
 *   clearPaymentUpdate(), clearWalletUpdate(), clearPayoutUpdate()
 *                  set it back to null (after the app has shown it).
 *   on(event, callback) → unsubscribe function. Events:
 *                  "payment:update" | "wallet:update" | "payout:update" (callback(data, id)),
 *                  "resync" (callback({reason})): the server could not replay what was missed,
 *                  or a reconnect had no id to resume from — refetch state over the API;
 *                  "state" (callback(state)); "error" (callback({reason})): "unauthorized" when
 *                  the session is over (the client then closes; sign in again).
 *   start()        open the stream (again, after close()).
 *   reconnect()    drop the current stream and reconnect now (e.g. after signing in again).
 *   close()        close the stream, cancel reconnects; state becomes "closed".
 *
 * Why a new EventSource on every error: a browser retries by itself only after a stream that
 * ended normally, and never after a non-200 answer (an expired access token gives 401, and the
 * server ends every stream when its access token expires or the process is deployed). So on
 * any error this client closes the EventSource, waits (capped exponential backoff), refreshes
 * the access token and opens a new one that passes the last id it saw, so the server replays
 * what was missed (or answers "resync").
 */

const EVENTS = ["payment:update", "wallet:update", "payout:update"];
const LATEST = { "payment:update": "paymentUpdate", "wallet:update": "walletUpdate", "payout:update": "payoutUpdate" };
const STABLE_AFTER_MS = 5000; // a stream that stayed open this long resets the backoff

export function readCookie(name) {
  if (typeof document === "undefined" || !document.cookie) return null;
  for (const part of document.cookie.split(";")) {
    const index = part.indexOf("=");
    if (index > -1 && part.slice(0, index).trim() === name) {
      return decodeURIComponent(part.slice(index + 1).trim());
    }
  }
  return null;
}

function isCrossOrigin(baseUrl) {
  if (!baseUrl || typeof location === "undefined") return false;
  try {
    return new URL(baseUrl, location.href).origin !== location.origin;
  } catch {
    return false;
  }
}

export function createPaymentClient(options = {}) {
  const baseUrl = (options.baseUrl || "").replace(/\/+$/, "");
  const crossOrigin = isCrossOrigin(baseUrl);
  const withCredentials = crossOrigin || options.credentials === "include";
  const fetchCredentials = withCredentials ? "include" : "same-origin";
  const EventSourceImpl = options.EventSource || globalThis.EventSource;
  const fetchImpl = options.fetch || globalThis.fetch.bind(globalThis);
  const csrfToken = options.csrfToken || readCookie;
  const initialDelay = options.initialDelay ?? 500;
  const maxDelay = options.maxDelay ?? 10000;

  const listeners = new Map();
  let source = null;
  let state = "closed";
  let lastEventId = null;
  let everOpened = false;
  let failures = 0;
  let reconnectTimer = null;
  let stableTimer = null;
  let generation = 0; // bumped on every (re)connect and on close: stale callbacks do nothing

  async function defaultRefresh() {
    const token = csrfToken("csrf_refresh_token");
    if (!token && !crossOrigin) return true; // no refresh cookie: nothing to renew, try the stream as it is
    const response = await fetchImpl(`${baseUrl}/auth/refresh`, {
      method: "POST",
      credentials: fetchCredentials,
      headers: token ? { "X-CSRF-TOKEN": token } : {},
    });
    if (response.ok) return true;
    if ([401, 403, 422].includes(response.status)) return false;
    throw new Error(`token refresh answered ${response.status}`);
  }
  const refresh = options.refresh || defaultRefresh;

  function emit(event, ...args) {
    for (const callback of [...(listeners.get(event) || [])]) {
      try {
        callback(...args);
      } catch (error) {
        // one broken subscriber must not stop the others, nor the stream
        setTimeout(() => { throw error; });
      }
    }
  }

  function setState(next) {
    if (state === next) return;
    state = next;
    emit("state", next);
  }

  function clearTimers() {
    clearTimeout(reconnectTimer);
    clearTimeout(stableTimer);
    reconnectTimer = stableTimer = null;
  }

  function dropSource() {
    if (source) {
      source.onopen = source.onerror = null;
      source.close();
      source = null;
    }
  }

  async function streamUrl() {
    const params = new URLSearchParams();
    if (lastEventId) params.set("lastEventId", lastEventId);
    if (options.streamToken) params.set("token", await options.streamToken());
    const query = params.toString();
    return `${baseUrl}/payments/stream${query ? `?${query}` : ""}`;
  }

  function handle(name, event) {
    if (event.lastEventId) lastEventId = event.lastEventId;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = { raw: event.data };
    }
    if (name === "resync") {
      emit("resync", data);
      return;
    }
    client[LATEST[name]] = data;
    emit(name, data, event.lastEventId || null);
  }

  async function open(isReconnect) {
    const mine = ++generation;
    dropSource();
    if (isReconnect) {
      try {
        const ok = await refresh();
        if (mine !== generation) return;
        if (ok === false) {
          closeWith("unauthorized");
          return;
        }
      } catch {
        if (mine !== generation) return;
        scheduleReconnect(); // the server is unreachable (restart, deploy, network): back off
        return;
      }
    }
    let url;
    try {
      url = await streamUrl();
    } catch {
      if (mine === generation) scheduleReconnect();
      return;
    }
    if (mine !== generation) return;
    const resumeId = lastEventId;
    source = new EventSourceImpl(url, { withCredentials });
    source.onopen = () => {
      if (mine !== generation) return;
      setState("live");
      clearTimeout(stableTimer);
      stableTimer = setTimeout(() => { failures = 0; }, STABLE_AFTER_MS);
      if (everOpened && !resumeId) {
        // Nothing to resume from: whatever happened while away is not replayed.
        emit("resync", { reason: "reconnected without a last event id" });
      }
      everOpened = true;
    };
    source.onerror = () => {
      if (mine !== generation) return;
      // Never let the browser retry on its own: it would stop for good after a 401.
      dropSource();
      clearTimeout(stableTimer);
      setState(everOpened ? "reconnecting" : "connecting");
      scheduleReconnect();
    };
    for (const name of [...EVENTS, "resync"]) {
      source.addEventListener(name, (event) => {
        if (mine === generation) handle(name, event);
      });
    }
  }

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    if (state === "closed") return;
    if (state === "live") setState("reconnecting");
    const base = Math.min(maxDelay, initialDelay * 2 ** failures);
    failures = Math.min(failures + 1, 30);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    reconnectTimer = setTimeout(() => open(true), delay);
  }

  function closeWith(reason) {
    generation++;
    clearTimers();
    dropSource();
    setState("closed");
    if (reason) emit("error", { reason });
  }

  function onOnline() {
    // The network is back: do not wait out the backoff.
    if (state === "reconnecting") {
      failures = 0;
      clearTimeout(reconnectTimer);
      open(true);
    }
  }

  const client = {
    paymentUpdate: null,
    walletUpdate: null,
    payoutUpdate: null,
    get connected() {
      return state === "live";
    },
    get state() {
      return state;
    },
    get lastEventId() {
      return lastEventId;
    },
    clearPaymentUpdate() {
      client.paymentUpdate = null;
    },
    clearWalletUpdate() {
      client.walletUpdate = null;
    },
    clearPayoutUpdate() {
      client.payoutUpdate = null;
    },
    on(event, callback) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(callback);
      return () => listeners.get(event)?.delete(callback);
    },
    start() {
      if (state !== "closed") return;
      failures = 0;
      setState(everOpened ? "reconnecting" : "connecting");
      if (typeof window !== "undefined") window.addEventListener("online", onOnline);
      open(everOpened);
    },
    reconnect() {
      if (state === "closed") return client.start();
      failures = 0;
      clearTimers();
      setState("reconnecting");
      open(true);
    },
    close() {
      if (typeof window !== "undefined") window.removeEventListener("online", onOnline);
      closeWith(null);
    },
  };

  if (options.autoStart !== false) client.start();
  return client;
}

export default createPaymentClient;
