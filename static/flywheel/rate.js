// The rating queue (/rate): the rating panel (rating.js gives it its keys) saves in place; here, once it has
// saved, the next output loads. Also: Enter saves, s skips, Esc leaves a text box. One set of listeners on
// the document, so they keep working as htmx swaps outputs in.
(function () {
  "use strict";

  function queue() {
    return document.getElementById("rate-item");
  }

  function typing(element) {
    if (!element) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && !/^(radio|checkbox|button|submit|reset)$/.test(element.type);
  }

  function loadNext() {
    // The saved output leaves at once: keys pressed before the next one arrives must not change its rating.
    var status = document.createElement("p");
    status.className = "meta";
    status.setAttribute("role", "status");
    status.textContent = "Saved. Loading the next output…";
    queue().replaceChildren(status);
    htmx.ajax("GET", window.location.pathname, { target: "#rate-item", swap: "innerHTML" });
  }

  // A refusal (nothing chosen, 429) comes back with its status and a message the panel shows.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var status = event.detail.xhr.status;
    if (source && source.closest && source.closest("#rate-item [data-swap-errors]") && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Saved (the panel's form answered 200; it has been swapped out by now, so look at the request): next output.
  document.addEventListener("htmx:afterRequest", function (event) {
    var config = event.detail.requestConfig || {};
    var saved = config.verb === "post" && /^\/generations\/[^/]+\/rate$/.test(config.path || "");
    if (queue() && saved && event.detail.xhr.status === 200) loadNext();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target === queue()) {
      var card = queue().querySelector(".rate-card");
      if (card) card.focus(); // the keys (and screen readers) start on the new output
    }
  });

  document.addEventListener("keydown", function (event) {
    var box = queue();
    if (!box || event.altKey || event.metaKey || event.ctrlKey) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "Enter" && !(target.matches && target.matches("button, a, summary"))) {
      var form = box.querySelector("[data-rating-panel] form");
      if (form) {
        event.preventDefault();
        if (!form.classList.contains("htmx-request")) form.requestSubmit(); // not twice while saving
      }
    } else if (event.key === "s") {
      var skip = box.querySelector(".rate-skip button");
      if (skip) {
        event.preventDefault();
        skip.click();
      }
    }
  });
})();
