/** config.js — what the server put in the page (`<script type="application/json" id="payflow-config">`). */
export const config = JSON.parse(document.getElementById("payflow-config")?.textContent || "{}");
