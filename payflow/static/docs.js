// Renders /openapi.json with the vendored Swagger UI (no CDN, no inline script: the page's CSP allows 'self' only).
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Same-origin "Try it out" sends the login cookie; a write also needs X-CSRF-TOKEN (csrfHeader).
    withCredentials: true,
    validatorUrl: null,
  });
})();
