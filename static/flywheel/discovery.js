// /models and /datasets: the search box and sort menu follow the address bar.
// htmx restores a page from its history snapshot, and a snapshot keeps each input's value as first
// rendered, not what was typed or chosen since: without this, Back shows the results for "tin"
// under an empty search box and the wrong sort order.
(function () {
  "use strict";

  function syncFormToUrl() {
    var form = document.getElementById("repo-filters");
    if (!form) return;
    var params = new URLSearchParams(window.location.search);
    var search = form.elements.namedItem("search");
    if (search) search.value = params.get("search") || "";
    var sort = form.elements.namedItem("sort");
    if (sort) {
      sort.value = params.get("sort") || "";
      // No sort (or an unknown one) in the URL: the server's default, which the menu lists first.
      if (sort.selectedIndex < 0) sort.selectedIndex = 0;
    }
  }

  document.addEventListener("htmx:historyRestore", syncFormToUrl);
  // A page shown again from the back-forward cache, or whose fields the browser refilled on Back.
  window.addEventListener("pageshow", syncFormToUrl);
})();
