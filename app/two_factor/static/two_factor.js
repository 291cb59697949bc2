// Copy and print buttons, a countdown while throttled, and a reminder before leaving unsaved backup codes.
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

  // htmx swaps 2xx and 4xx answers; a 5xx or a lost connection would otherwise change nothing on screen.
  function showFailure(elt, text) {
    var panel = elt && elt.closest ? elt.closest(".tf-panel") : null;
    var region = panel ? panel.querySelector(".tf-messages") : null;
    if (!region) { return; }
    var message = document.createElement("p");
    message.className = "tf-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    region.replaceChildren(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    showFailure(event.detail.elt, "Something went wrong on our side, and nothing was changed. Try again in a minute.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event.detail.elt, "The server could not be reached. Check your connection and try again.");
  });

  // The codes are shown once: ask before the page is left without confirming they were saved.
  window.addEventListener("beforeunload", function (event) {
    var saved = document.getElementById("tf-saved");
    if (saved && !saved.checked) { event.preventDefault(); }
  });

  // A throttled answer says how long to wait: count it down and keep the form's button off until then.
  function waitText(seconds) {
    return "Too many attempts. Wait " + seconds + (seconds === 1 ? " second" : " seconds") + ", then try again.";
  }

  function countDown(root) {
    root.querySelectorAll("[data-retry-after]").forEach(function (message) {
      var form = message.closest("form") || (message.closest(".tf-panel") || document).querySelector("form");
      var button = form ? form.querySelector("button[type=submit]") : null;
      var left = parseInt(message.getAttribute("data-retry-after"), 10);
      message.removeAttribute("data-retry-after");
      if (!(left > 0)) { return; }
      if (button) { button.disabled = true; }
      // Screen readers hear the refusal once and the end of the wait, not every tick.
      var region = message.closest("[aria-live]");
      var timer = setInterval(function () {
        left -= 1;
        if (!message.isConnected) { clearInterval(timer); return; }
        if (region) { region.setAttribute("aria-live", "off"); }
        message.removeAttribute("role");
        if (left > 0) { message.textContent = waitText(left); return; }
        clearInterval(timer);
        if (region) { region.setAttribute("aria-live", "polite"); }
        message.textContent = "You can try again now.";
        if (button) { button.disabled = false; }
      }, 1000);
    });
  }

  function ready(root) { reveal(root); countDown(root); }

  document.addEventListener("DOMContentLoaded", function () { ready(document); });
  document.addEventListener("htmx:afterSettle", function (event) { ready(event.target); });
})();
