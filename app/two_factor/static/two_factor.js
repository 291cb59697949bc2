// Copy and print buttons, a countdown while throttled, a reminder before leaving unsaved backup codes, times in
// the reader's time zone and a clear word for a code field typed wrong. Everything else works without JavaScript;
// nothing here sets inline styles (CSP), and every word shown comes from the page, in its language.
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll(".tf-js-only[hidden]").forEach(function (el) { el.hidden = false; });
  }

  // A copy button holds its three labels stacked (two_factor.css), so saying "Copied" never changes its width.
  function announce(button, state) {
    clearTimeout(button.tfTimer);
    button.classList.remove("tf-copy-ok", "tf-copy-error");
    button.classList.add(state);
    button.tfTimer = setTimeout(function () { button.classList.remove(state); }, 2000);
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
    if (!source || !navigator.clipboard) { announce(button, "tf-copy-error"); return; }
    navigator.clipboard.writeText(textOf(source)).then(
      function () { announce(button, "tf-copy-ok"); },
      function () { announce(button, "tf-copy-error"); }
    );
  });

  // htmx swaps 2xx and 4xx answers; a 5xx or a lost connection would otherwise change nothing on screen.
  function showFailure(elt, key) {
    var panel = elt && elt.closest ? elt.closest(".tf-panel") : null;
    var region = panel ? panel.querySelector(".tf-messages") : null;
    if (!region || !region.dataset[key]) { return; }
    var message = document.createElement("p");
    message.className = "tf-error";
    message.setAttribute("role", "alert");
    message.textContent = region.dataset[key];
    region.replaceChildren(message);
  }

  document.addEventListener("htmx:responseError", function (event) { showFailure(event.detail.elt, "textServerError"); });
  document.addEventListener("htmx:sendError", function (event) { showFailure(event.detail.elt, "textOffline"); });

  // The codes are shown once: ask before the page is left without confirming they were saved.
  window.addEventListener("beforeunload", function (event) {
    var saved = document.getElementById("tf-saved");
    if (saved && !saved.checked) { event.preventDefault(); }
  });

  // A throttled answer says how long to wait: count it down and keep the form's button off until then.
  function waitText(region, seconds) {
    var form = region && region.dataset[seconds === 1 ? "textWaitOne" : "textWaitOther"];
    return form ? form.replace("{n}", String(seconds)) : null;
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
        var text = left > 0 ? waitText(region, left) : null;
        if (left > 0) { if (text) { message.textContent = text; } return; }
        clearInterval(timer);
        if (region) { region.setAttribute("aria-live", "polite"); }
        if (region && region.dataset.textReady) { message.textContent = region.dataset.textReady; }
        if (button) { button.disabled = false; }
      }, 1000);
    });
  }

  // Times are written in UTC by the server; say them in the reader's zone, the UTC one kept in the tooltip.
  function localTimes(root) {
    var format;
    try {
      format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
    } catch (error) { return; }
    root.querySelectorAll("time[data-tf-local]").forEach(function (time) {
      var moment = new Date(time.getAttribute("datetime"));
      if (isNaN(moment.getTime())) { return; }
      time.title = time.textContent;
      time.textContent = format.format(moment);
      time.removeAttribute("data-tf-local");
    });
  }

  // A code field with a pattern: the browser's "match the requested format" becomes the page's own words.
  function patternMessage(input) {
    input.setCustomValidity("");
    if (input.validity.patternMismatch) { input.setCustomValidity(input.dataset.patternMessage); }
  }

  document.addEventListener("invalid", function (event) {
    if (event.target.matches && event.target.matches("input[data-pattern-message]")) { patternMessage(event.target); }
  }, true);
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-pattern-message]")) { patternMessage(event.target); }
  });

  function ready(root) { reveal(root); countDown(root); localTimes(root); }

  document.addEventListener("DOMContentLoaded", function () { ready(document); });
  document.addEventListener("htmx:afterSettle", function (event) { ready(event.target); });
})();
