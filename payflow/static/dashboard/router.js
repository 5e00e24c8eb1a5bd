/**
 * router.js — the page's routes in the URL's fragment, so a toast or a browser notification can
 * link to a payment: "#/" (or nothing) is the dashboard, "#/payments/{id}" a payment's detail view.
 */

export function currentRoute() {
  const match = window.location.hash.match(/^#\/payments\/([A-Za-z0-9_-]{1,64})$/);
  return match ? { name: "payment", paymentId: match[1] } : { name: "home" };
}

export function onRouteChange(callback) {
  window.addEventListener("hashchange", () => callback(currentRoute()));
}
