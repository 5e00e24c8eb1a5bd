/** dom.js — small helpers to build the page with DOM calls (no HTML strings, so no injection). */

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = text;
  return element;
}

export function show(element, visible) {
  if (element) element.hidden = !visible;
}

/** A button whose accessible name (`label`) may say more than its visible text. */
export function button(text, className, onClick, { label, action, disabled = false } = {}) {
  const element = el("button", className, text);
  element.type = "button";
  if (label) element.setAttribute("aria-label", label);
  if (action) element.dataset.action = action;
  element.disabled = disabled;
  element.addEventListener("click", onClick);
  return element;
}

export function link(text, href, className, label) {
  const element = el("a", className, text);
  element.href = href;
  if (label) element.setAttribute("aria-label", label);
  return element;
}

export function setFormError(form, message) {
  const box = $(".form-error", form);
  box.textContent = message || "";
  show(box, Boolean(message));
}

export function setBusy(form, busy) {
  for (const submit of form.querySelectorAll("button[type=submit]")) {
    submit.disabled = busy;
    if (busy) submit.setAttribute("aria-busy", "true");
    else submit.removeAttribute("aria-busy");
  }
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

/** Show a list's "Loading…", its rows, or its empty message, by `data-list-state`. */
export function setListState(listId, { loaded, count }) {
  const list = document.getElementById(listId);
  if (list) list.setAttribute("aria-busy", loaded ? "false" : "true");
  show(document.querySelector(`[data-loading-for="${listId}"]`), !loaded);
  show(document.querySelector(`[data-empty-for="${listId}"]`), loaded && count === 0);
}

export function statusBadge(status, labels) {
  const badge = el("span", `status status--${status.toLowerCase().replace(/_/g, "-")}`, labels[status] || status);
  badge.dataset.status = status;
  return badge;
}

/** Replace a list's children, keeping keyboard focus on the same action of the same row. */
export function replaceRows(list, rows) {
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const key = focused?.closest("[data-key]")?.dataset.key;
  const action = focused?.dataset.action;
  list.replaceChildren(...rows);
  if (key && action) list.querySelector(`[data-key="${CSS.escape(key)}"] [data-action="${CSS.escape(action)}"]`)?.focus();
}
