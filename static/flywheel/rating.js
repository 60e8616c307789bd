// Keyboard shortcuts for the rating panel: +/u good, -/d bad, 1-5 stars, c a better answer, Ctrl/Cmd+Enter save.
// Letters act only while no text field has the focus; the panel they act on is the one holding the focus,
// else the last one on the page (the newest output).
(function () {
  "use strict";

  function typing(element) {
    if (!element) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && !/^(radio|checkbox|button|submit|reset)$/.test(element.type);
  }

  function currentPanel() {
    var active = document.activeElement;
    var inside = active && active.closest && active.closest("[data-rating-panel]");
    if (inside) return inside;
    var panels = document.querySelectorAll("[data-rating-panel]");
    for (var i = panels.length - 1; i >= 0; i--) {
      if (panels[i].querySelector("form")) return panels[i];
    }
    return null;
  }

  function choose(panel, selector) {
    var input = panel.querySelector(selector);
    if (!input) return;
    var details = input.closest("details");
    if (details) details.open = true;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // While a save is on its way the panel keeps the choices it sent: a key then would show a choice never saved.
  function saving(form) {
    return !!(form && form.classList.contains("htmx-request"));
  }

  var KEYS = {
    "+": "[data-key-thumb=up]",
    u: "[data-key-thumb=up]",
    "-": "[data-key-thumb=down]",
    d: "[data-key-thumb=down]",
  };

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = target.closest && target.closest("[data-rating-panel] form");
      if (!form && !typing(target)) {
        var panel = currentPanel();
        form = panel && panel.querySelector("form");
      }
      if (form) {
        event.preventDefault();
        if (!saving(form)) form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(target)) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var panel = currentPanel();
    if (!panel) return;
    if (saving(panel.querySelector("form")) && (KEYS[key] || /^[1-5c]$/.test(key))) {
      event.preventDefault();
      return;
    }
    if (KEYS[key]) {
      choose(panel, KEYS[key]);
    } else if (/^[1-5]$/.test(key)) {
      choose(panel, "[data-key-stars='" + key + "']");
    } else if (key === "c") {
      var correction = panel.querySelector("[data-correction]");
      if (!correction) return;
      var details = correction.closest("details");
      if (details) details.open = true;
      correction.focus();
      correction.select();
    } else {
      return;
    }
    event.preventDefault();
  });
})();
