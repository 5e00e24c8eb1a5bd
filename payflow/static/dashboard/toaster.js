/** toaster.js — the page's one toaster (toasts.js), stacked under the header. */
import { createToaster } from "../toasts.js";

export const toaster = createToaster({
  container: document.getElementById("toasts"),
  // A browser notification opens the payment it is about.
  onNotificationClick: (link) => { if (link?.href) window.location.hash = new URL(link.href, window.location.href).hash; },
});
