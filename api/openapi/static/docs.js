// Starts Swagger UI on /api/v1/docs. A file of its own, not inline script, so the page's
// Content-Security-Policy can forbid inline script.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // A pasted token lives as long as the page: never written to localStorage, where any
    // script of this origin, and anyone at this browser later, could read it.
    persistAuthorization: false,
    validatorUrl: null, // no badge from validator.swagger.io: the page stays offline
  });
});
