// Playground and the "Try it" panel: follow a generation as server-sent events (queue position, tokens as
// they come), stop it, then swap in the finished output that the server renders (commit, seed, rating panel).
(function () {
  "use strict";

  function ordinal(n) {
    var rest = n % 100;
    if (rest >= 11 && rest <= 13) return n + "th";
    return n + ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  }

  function csrfToken(element) {
    var input = element.querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function showFinished(output) {
    // The server renders the finished state, so it looks the same with or without JavaScript.
    htmx.ajax("GET", output.dataset.final, { target: output, swap: "outerHTML" });
  }

  function follow(output) {
    if (output.flywheelFollowing || !output.dataset.stream) return;
    output.flywheelFollowing = true;
    var status = output.querySelector("[data-status]");
    var completion = output.querySelector("[data-completion]");
    var tokens = output.querySelector("[data-tokens]");
    var refresh = output.querySelector("[data-refresh]");
    if (refresh) refresh.hidden = true;
    var source = new EventSource(output.dataset.stream);
    var ended = false;

    function end() {
      ended = true;
      source.close();
      showFinished(output);
    }

    source.addEventListener("queued", function (event) {
      var data = JSON.parse(event.data);
      status.textContent = ordinal(data.position) + " in the queue";
    });
    source.addEventListener("text", function (event) {
      var data = JSON.parse(event.data);
      status.textContent = "Generating…";
      status.className = "output-status status-running";
      completion.textContent = data.text;
      if (tokens) tokens.textContent = data.tokens + " token" + (data.tokens === 1 ? "" : "s");
    });
    ["done", "failed", "cancelled"].forEach(function (name) { source.addEventListener(name, end); });
    source.addEventListener("error", function () {
      // The browser reconnects by itself after a dropped connection; a refused one (404) stays closed.
      if (!ended && source.readyState === EventSource.CLOSED) {
        status.textContent = "Lost contact with the generation.";
        if (refresh) refresh.hidden = false;
      }
    });
    // Leaving the page (or swapping the panel out) closes the stream, which stops an unfinished generation.
    output.addEventListener("htmx:beforeCleanupElement", function () { if (!ended) source.close(); });
  }

  function stop(form) {
    var output = form.closest(".generation-output");
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(output.dataset.cancel, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok && button) button.disabled = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("stop-form") && form.closest("[data-cancel]")) {
      event.preventDefault();
      stop(form);
    }
  });

  // Refusals (bad parameters, 429, a model that cannot run) come back with their status and a message to show.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var status = event.detail.xhr.status;
    if (source && source.closest && source.closest("[data-swap-errors]") && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Ctrl/Cmd+Enter in a prompt generates.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (target.name === "prompt" && target.form && !target.form.closest("[data-rating-panel]")) {
      event.preventDefault();
      target.form.requestSubmit();
    }
  });

  htmx.onLoad(function (element) {
    var outputs = element.matches && element.matches(".generation-output") ? [element] : [];
    outputs = outputs.concat(Array.prototype.slice.call(element.querySelectorAll(".generation-output")));
    outputs.forEach(follow);
  });
})();
