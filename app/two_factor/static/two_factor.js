// Copy and print buttons for the 2FA pages; everything else works without JavaScript.
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

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy], button[data-print]");
    if (!button) { return; }
    if (button.hasAttribute("data-print")) { window.print(); return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { announce(button, "Copy not available"); return; }
    var text = source.tagName === "OL"
      ? Array.from(source.querySelectorAll("code")).map(function (c) { return c.textContent; }).join("\n")
      : source.textContent.replace(/\s+/g, "");
    navigator.clipboard.writeText(text).then(
      function () { announce(button, "Copied"); },
      function () { announce(button, "Copy failed"); }
    );
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function (event) { reveal(event.target); });
})();
