/**
 * toasts.js — short-lived messages ("Payment Held in Escrow") and, when allowed, browser
 * notifications.
 *
 *   import { createToaster } from "/static/toasts.js";
 *   const toaster = createToaster({ container: document.getElementById("toasts") });
 *   toaster.show({ kind: "success", message: "Payment Secured" });   // kind: success | error | info
 *   toaster.show({ kind: "success", title: "Payment Secured", message: "$45.00 from Acme",
 *                  link: { href: "#/payments/pay_1", text: "View payment" } });
 *   button.onclick = () => toaster.enableBrowserNotifications();      // only from a user gesture
 *
 * Each toast slides in, is coloured by its kind and also says it in words with an icon (colour
 * is never the only signal: the kind is read out before the title), disappears after `duration`
 * ms (5 s) unless the pointer is over it or the keyboard focus is in it, and has a dismiss button
 * named "Dismiss notification". Its title defaults to the kind's word ("Success"). Toasts stack
 * in the container (a role="status", aria-live="polite" region), newest first.
 *
 * A browser notification is shown as well, but only when the page is hidden (the toast is not
 * seen) and the person has granted permission. Permission is asked only by
 * enableBrowserNotifications(), which must run from a click: never on page load.
 */

const KINDS = {
  success: { title: "Success", icon: "✓" },
  error: { title: "Error", icon: "!" },
  info: { title: "Info", icon: "i" },
};

export function createToaster(options = {}) {
  const duration = options.duration ?? 5000;
  const maxVisible = options.maxVisible ?? 5;
  const appName = options.appName || "payflow";
  const onNotificationClick = options.onNotificationClick || (() => {});
  const container = options.container || makeContainer();
  const pausers = new WeakMap(); // toast → function that stops its auto-dismiss timer
  container.classList.add("toasts");
  container.setAttribute("role", "status");
  container.setAttribute("aria-live", "polite");
  container.setAttribute("aria-relevant", "additions");

  function makeContainer() {
    const element = document.createElement("div");
    document.body.append(element);
    return element;
  }

  function show({ kind = "info", message, title, link } = {}) {
    const style = KINDS[kind] ? kind : "info";
    const { title: word, icon } = KINDS[style];

    const toast = document.createElement("div");
    toast.className = `toast toast--${style}`;
    toast.dataset.kind = style;

    const badge = document.createElement("span");
    badge.className = "toast__icon";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = icon;

    const body = document.createElement("div");
    body.className = "toast__body";
    const heading = document.createElement("strong");
    heading.className = "toast__title";
    if (title && title !== word) {
      const said = document.createElement("span");
      said.className = "visually-hidden";
      said.textContent = `${word}: `;
      heading.append(said);
    }
    heading.append(title || word);
    const text = document.createElement("p");
    text.className = "toast__message";
    text.textContent = message;
    body.append(heading, text);
    if (link && link.href) {
      const anchor = document.createElement("a");
      anchor.className = "toast__link";
      anchor.href = link.href;
      anchor.textContent = link.text || "View";
      body.append(anchor);
    }

    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast__dismiss";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "×";

    toast.append(badge, body, close);
    container.prepend(toast);

    // Auto-dismiss, paused while hovered or focused (and resumed with the time that was left).
    let remaining = duration;
    let startedAt = 0;
    let timer = null;
    let hovered = false;
    let focused = false;
    const run = () => {
      if (timer || hovered || focused || !toast.isConnected) return;
      startedAt = Date.now();
      timer = setTimeout(() => dismiss(toast), remaining);
    };
    const pause = () => {
      if (!timer) return;
      clearTimeout(timer);
      timer = null;
      remaining = Math.max(0, remaining - (Date.now() - startedAt));
    };
    toast.addEventListener("mouseenter", () => { hovered = true; pause(); });
    toast.addEventListener("mouseleave", () => { hovered = false; run(); });
    toast.addEventListener("focusin", () => { focused = true; pause(); });
    toast.addEventListener("focusout", () => { focused = false; run(); });
    close.addEventListener("click", () => dismiss(toast));
    pausers.set(toast, pause);
    run();

    const visible = container.querySelectorAll(".toast:not(.toast--leaving)");
    for (const old of [...visible].slice(maxVisible)) dismiss(old);

    notifyBrowser(title && title !== word ? `${title}: ${message}` : message, style, link);
    return toast;
  }

  function dismiss(toast) {
    if (!toast || !toast.isConnected || toast.classList.contains("toast--leaving")) return;
    pausers.get(toast)?.();
    const hadFocus = toast.contains(document.activeElement);
    toast.classList.add("toast--leaving");
    const remove = () => {
      toast.remove();
      if (hadFocus) document.querySelector("main")?.focus?.();
    };
    toast.addEventListener("animationend", remove, { once: true });
    setTimeout(remove, 400); // no animation (reduced motion, hidden tab): remove anyway
  }

  function notifyBrowser(message, kind, link) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState !== "hidden") return; // the toast is seen; do not say it twice
    try {
      const note = new Notification(appName, { body: message, tag: `${appName}-${kind}-${message}` });
      note.onclick = () => {
        window.focus();
        onNotificationClick(link);
        note.close();
      };
    } catch {
      // Some platforms allow notifications only from a service worker: the toast is enough.
    }
  }

  /** Ask for permission; call it from a click or key press only. Resolves to the permission. */
  async function enableBrowserNotifications() {
    if (!("Notification" in window)) return "unsupported";
    if (Notification.permission !== "default") return Notification.permission;
    return Notification.requestPermission();
  }

  function browserNotificationsState() {
    return "Notification" in window ? Notification.permission : "unsupported";
  }

  function clear() {
    for (const toast of container.querySelectorAll(".toast")) toast.remove();
  }

  return { show, dismiss, clear, enableBrowserNotifications, browserNotificationsState, container };
}

export default createToaster;
