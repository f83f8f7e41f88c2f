// /docs: Swagger UI from the vendored swagger-ui-bundle package (no CDN, no inline script).
(function () {
  "use strict";
  function start() {
    if (!window.SwaggerUIBundle) { return; }
    window.ui = window.SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
