// Feedback dashboards: draws the charts from the figures the page carries in a JSON script element
// (no inline script under the Content-Security-Policy). Every chart has a table beside it with the same numbers.
(function () {
  "use strict";

  var UP = "#2e7d32";
  var NEUTRAL = "#1565c0";
  var LIGHT = "#90caf9";

  function data(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function draw(canvasId, config) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || typeof Chart === "undefined") return;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    canvas.chart = new Chart(canvas, config);
  }

  function percentAxis() {
    return { min: 0, max: 1, ticks: { callback: function (v) { return Math.round(v * 100) + "%"; } } };
  }

  function dashboard(figures) {
    draw("chart-trend", {
      data: {
        labels: figures.days,
        datasets: [
          { type: "bar", label: "Ratings", data: figures.ratingsPerDay, backgroundColor: LIGHT, yAxisID: "count", order: 2 },
          {
            // Drawn over the bars (lower order on top), with points, so the first day's share shows as well.
            type: "line", label: "Thumbs-up share", data: figures.upRatioPerDay, borderColor: UP,
            backgroundColor: UP, yAxisID: "share", spanGaps: true, order: 1, pointRadius: 4,
          },
        ],
      },
      options: {
        scales: {
          count: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
          share: Object.assign(percentAxis(), { position: "right", grid: { drawOnChartArea: false } }),
        },
      },
    });
    draw("chart-stars", {
      type: "bar",
      data: {
        labels: ["1★", "2★", "3★", "4★", "5★"],
        datasets: [{ label: "Ratings", data: figures.stars, backgroundColor: NEUTRAL }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    draw("chart-tags", {
      type: "bar",
      data: { labels: figures.tagLabels, datasets: [{ label: "Ratings", data: figures.tagCounts, backgroundColor: NEUTRAL }] },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  function compare(figures) {
    // The interval as a floating bar behind the point estimate.
    var intervals = figures.upLow.map(function (low, i) {
      return low === null ? null : [low, figures.upHigh[i]];
    });
    draw("chart-compare-up", {
      data: {
        labels: figures.labels,
        datasets: [
          { type: "bar", label: "95% interval", data: intervals, backgroundColor: LIGHT },
          {
            type: "line", label: "Thumbs-up share", data: figures.upRatio, borderColor: UP,
            backgroundColor: UP, showLine: false, pointRadius: 6,
          },
        ],
      },
      options: { scales: { y: percentAxis() } },
    });
    draw("chart-compare-stars", {
      type: "bar",
      data: {
        labels: ["1★", "2★", "3★", "4★", "5★"],
        datasets: [
          { label: "A", data: figures.starsA, backgroundColor: LIGHT },
          { label: "B", data: figures.starsB, backgroundColor: NEUTRAL },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  var figures = data("dashboard-data");
  if (figures) dashboard(figures);
  var pair = data("compare-data");
  if (pair) compare(pair);
})();
