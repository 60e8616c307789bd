// Arena leaderboard chart: each revision's 95% interval as a floating bar, its rating as a point, drawn from
// the figures the page carries in a JSON script element (no inline script under the Content-Security-Policy).
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("leaderboard-data");
    var canvas = document.getElementById("chart-leaderboard");
    if (!source || !canvas || typeof Chart === "undefined") return;
    var figures = JSON.parse(source.textContent);
    canvas.chart = new Chart(canvas, {
      data: {
        labels: figures.labels,
        datasets: [
          { type: "bar", label: "95% interval", data: figures.intervals, backgroundColor: "#90caf9" },
          {
            type: "line", label: "Rating", data: figures.ratings, borderColor: "#1565c0",
            backgroundColor: "#1565c0", showLine: false, pointRadius: 6,
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { beginAtZero: false, title: { display: true, text: "Rating (mean 1000)" } } },
      },
    });
  });
})();
