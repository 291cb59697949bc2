// Copy and print buttons, and a reminder before leaving unsaved backup codes.
// Everything else works without JavaScript; nothing here sets inline styles (CSP).
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll(".tf-js-only[hidden]").forEach(function (el) { el.hidden = false; });
  }

  function announce(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    setTimeout(function () { button.textContent = original; }, 2000);
  }

  function textOf(source) {
    if (source.tagName === "OL") {
      return Array.from(source.querySelectorAll("code")).map(function (c) { return c.textContent; }).join("\n") + "\n";
    }
    return source.textContent.replace(/\s+/g, "");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy], button[data-print]");
    if (!button) { return; }
    if (button.hasAttribute("data-print")) { window.print(); return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { announce(button, "Copy not available"); return; }
    navigator.clipboard.writeText(textOf(source)).then(
      function () { announce(button, "Copied"); },
      function () { announce(button, "Copy failed"); }
    );
  });

  // The codes are shown once: ask before the page is left without confirming they were saved.
  window.addEventListener("beforeunload", function (event) {
    var saved = document.getElementById("tf-saved");
    if (saved && !saved.checked) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function (event) { reveal(event.target); });
})();
