/**
 * actions.js — requests that move money, sent once per user action.
 *
 * Each user action (refund this payment, release it, request this payout) gets one
 * Idempotency-Key, made with crypto.randomUUID() when the action starts. While it is in flight a
 * second click joins it instead of sending again; if its answer was lost (no connection, a 5xx, a
 * 429) the action stays open and trying again sends the same key with the same body, so the server
 * can answer what it answered the first time. Once the server has answered (2xx, or a 4xx that
 * settles it) the action is over and the next click is a new action with a new key. A changed body
 * (another amount) is a new action too.
 *
 *   const result = await runAction(`refund:${id}`, body, (key) => api(path, { method: "POST", body, idempotencyKey: key }));
 *   inFlight(`refund:${id}`)   // true while the request is on its way: show the button busy
 *   onActionsChange(render)    // re-render when an action starts or ends
 */

const open = new Map(); // action id → { key, fingerprint, promise }
const listeners = new Set();

function changed() {
  for (const listener of listeners) listener();
}

export function onActionsChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function inFlight(actionId) {
  return Boolean(open.get(actionId)?.promise);
}

function newKey() {
  return crypto.randomUUID();
}

/**
 * Run `send(idempotencyKey)` as the user action `actionId` with request body `body`.
 * Resolves or rejects with what `send` did; errors with `definitive === false` keep the key.
 */
export function runAction(actionId, body, send) {
  const fingerprint = JSON.stringify(body ?? null);
  let action = open.get(actionId);
  if (action?.promise) return action.promise; // a double click: the same request
  if (!action || action.fingerprint !== fingerprint) action = { key: newKey(), fingerprint, promise: null };
  open.set(actionId, action);
  action.promise = Promise.resolve()
    .then(() => send(action.key))
    .then(
      (result) => {
        open.delete(actionId);
        changed();
        return result;
      },
      (error) => {
        if (error && error.definitive === false) action.promise = null; // answer unknown: retry with this key
        else open.delete(actionId);
        changed();
        throw error;
      },
    );
  changed();
  return action.promise;
}

/** Mark `button` busy with `label` until `promise` settles (disabled, aria-busy, its text kept). */
export function busyWhile(button, promise, label) {
  if (!button) return promise;
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  const done = () => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (label) button.textContent = text;
  };
  promise.then(done, done);
  return promise;
}
