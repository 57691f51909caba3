// Draws the chart of a report result from the JSON the page embeds (#report-data), and redraws it when htmx
// swaps in a new result. The result says which column labels the bars and which columns are the values.
(function () {
  let chart = null;
  const palette = ["#1f6feb", "#8957e5", "#2da44e", "#d29922", "#cf222e"];

  function draw() {
    const data = document.getElementById("report-data");
    const canvas = document.querySelector("canvas.report-chart");
    if (chart) { chart.destroy(); chart = null; }
    if (!data || !canvas || typeof Chart === "undefined") return;
    const result = JSON.parse(data.textContent);
    const labelKey = result.chart.label;
    const columns = Object.fromEntries(result.columns.map((c) => [c.key, c]));
    chart = new Chart(canvas, {
      type: result.chart.type || "bar",
      data: {
        labels: result.rows.map((row) => row[labelKey] + (row.currency && result.totals.currency === "" ? " (" + row.currency + ")" : "")),
        datasets: result.chart.values.map((key, i) => ({
          label: columns[key].label,
          data: result.rows.map((row) => Number(row[key])),
          backgroundColor: palette[i % palette.length],
        })),
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false },
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
