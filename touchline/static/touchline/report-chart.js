// Draws the chart of every report result on the page from the JSON each embeds (canvas[data-source] names the
// script element), and redraws after htmx swaps results in. The result says which column labels the bars,
// which columns are the values, and whether they stack. A canvas with data-drilldown is a link per bar
// segment: {label_id} and {series} in it are replaced by the row's "<label>_id" value and the series key.
(function () {
  const charts = new Map();
  const palette = ["#1f6feb", "#8957e5", "#2da44e", "#d29922", "#cf222e", "#0a7ea4", "#6e7781", "#bf3989",
                   "#57606a", "#953800"];

  function draw(canvas) {
    const data = document.getElementById(canvas.dataset.source);
    if (!data || typeof Chart === "undefined") return;
    const result = JSON.parse(data.textContent);
    const labelKey = result.chart.label;
    const columns = Object.fromEntries(result.columns.map((c) => [c.key, c]));
    const stacked = Boolean(result.chart.stacked);
    const drilldown = canvas.dataset.drilldown;
    const chart = new Chart(canvas, {
      type: result.chart.type || "bar",
      data: {
        labels: result.rows.map((row) => (labelKey ? row[labelKey] : "")
          + (row.currency && result.totals.currency === "" ? " (" + row.currency + ")" : "")),
        datasets: result.chart.values.map((key, i) => ({
          label: columns[key] ? columns[key].label : key,
          data: result.rows.map((row) => (row[key] === null ? null : Number(row[key]))),
          backgroundColor: palette[i % palette.length],
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: stacked ? { x: { stacked: true }, y: { stacked: true } } : {},
        onClick: drilldown ? (event, elements) => {
          if (!elements.length) return;
          const row = result.rows[elements[0].index];
          const series = result.chart.values[elements[0].datasetIndex];
          window.location.href = drilldown.replace("{label_id}", row[labelKey + "_id"]).replace("{series}", series);
        } : undefined,
      },
    });
    charts.set(canvas, chart);
  }

  function drawAll() {
    for (const [canvas, chart] of charts) {
      if (!document.body.contains(canvas)) { chart.destroy(); charts.delete(canvas); }
    }
    document.querySelectorAll("canvas.report-chart").forEach((canvas) => { if (!charts.has(canvas)) draw(canvas); });
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
