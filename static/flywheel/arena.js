// Arena keys: a / b / t / x vote, n starts a new battle, Ctrl+Enter in the prompt starts one. Keys typed into a
// text box are left alone. The vote buttons are plain form buttons, so the page works without this script.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.name === "prompt" && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (typing(target) || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key.toLowerCase();
    var button = document.querySelector("[data-vote-form] button[data-key='" + key + "']");
    if (button && !button.disabled) {
      event.preventDefault();
      button.click(); // a click, so htmx sends the button's value with the form
      return;
    }
    if (key === "n") {
      var prompt = document.getElementById("id_prompt");
      if (prompt) {
        event.preventDefault();
        prompt.focus();
      }
    }
  });

  // A refused vote (409 already voted or not finished, 429 daily limit) comes back as the battle with the reason.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var status = event.detail.xhr.status;
    if (source && source.closest && source.closest("[data-vote-form]") && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
