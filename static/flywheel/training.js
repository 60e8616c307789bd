// The run page's loss chart: points come from the live panel's data-points attribute (no inline script under the
// Content-Security-Policy); htmx swaps the panel every two seconds while the run trains, and each swap redraws.
(function () {
  "use strict";

  var TRAIN = "#1565c0";
  var VALIDATION = "#e65100";
  var chart = null;

  function points() {
    var element = document.getElementById("run-points");
    return element ? JSON.parse(element.getAttribute("data-points")) : null;
  }

  function xy(pairs) {
    return pairs.map(function (p) { return { x: p[0], y: p[1] }; });
  }

  function draw() {
    var canvas = document.getElementById("loss-chart");
    var data = points();
    if (!canvas || !data || typeof Chart === "undefined") return;
    if (chart) {
      chart.data.datasets[0].data = xy(data.train);
      chart.data.datasets[1].data = xy(data.validation);
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          { label: "Training loss", data: xy(data.train), borderColor: TRAIN, backgroundColor: TRAIN, pointRadius: 0, borderWidth: 2 },
          {
            label: "Validation loss", data: xy(data.validation), borderColor: VALIDATION, backgroundColor: VALIDATION,
            pointRadius: 4, borderWidth: 2,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "linear", title: { display: true, text: "step" }, ticks: { precision: 0 } },
          y: { title: { display: true, text: "loss" } },
        },
      },
    });
  }

  draw();
  document.body.addEventListener("htmx:afterSettle", draw);
})();
