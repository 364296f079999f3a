// Let HTMX swap 4xx answers (validation errors, expired forms) into the page instead of
// dropping them silently; 5xx still go to the error handler.
// Upload progress: the form's <progress> follows the bytes sent.
document.addEventListener("htmx:xhr:progress", function (event) {
  var bar = event.target.querySelector && event.target.querySelector("progress#upload-progress");
  if (bar && event.detail.lengthComputable) {
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  }
});

document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status >= 400 && status < 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Trend charts: <div data-trend-chart="ID of a JSON block" data-trend-pick="ID of a select">
function drawTrends() {
  document.querySelectorAll("[data-trend-chart]").forEach(function (box) {
    if (!window.echarts) return;
    var trends = JSON.parse(document.getElementById(box.dataset.trendChart).textContent);
    var pick = document.getElementById(box.dataset.trendPick);
    var chart = window.echarts.init(box);
    function show(i) {
      var t = trends[i];
      if (!t) return;
      chart.setOption({
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: t.periods.map(String) },
        yAxis: { type: "value", name: t.unit_label || "" },
        series: [{ type: t.type || "line", name: t.name, data: t.values }]
      }, true);
    }
    show(0);
    if (pick) pick.addEventListener("change", function () { show(Number(pick.value)); });
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
window.addEventListener("load", drawTrends);

// Model reports: <div data-roc-chart="ID of a JSON block {roc: [[fpr, tpr]...], ks, labels}">
function drawRoc() {
  document.querySelectorAll("[data-roc-chart]").forEach(function (box) {
    if (!window.echarts) return;
    var data = JSON.parse(document.getElementById(box.dataset.rocChart).textContent);
    var chart = window.echarts.init(box);
    var series = [
      { type: "line", name: data.labels.roc, data: data.roc, showSymbol: false, xAxisIndex: 0, yAxisIndex: 0 },
      { type: "line", data: [[0, 0], [1, 1]], showSymbol: false, lineStyle: { type: "dashed" }, xAxisIndex: 0, yAxisIndex: 0 }
    ];
    var grids = [{ left: "6%", width: "40%" }];
    var xs = [{ type: "value", min: 0, max: 1, gridIndex: 0, name: "FPR" }];
    var ys = [{ type: "value", min: 0, max: 1, gridIndex: 0, name: "TPR" }];
    if (data.ks) {
      grids.push({ left: "56%", width: "40%" });
      xs.push({ type: "category", data: data.ks.score.map(String), gridIndex: 1 });
      ys.push({ type: "value", min: 0, max: 1, gridIndex: 1, name: "KS" });
      series.push({ type: "line", name: data.labels.bad, data: data.ks.bad, xAxisIndex: 1, yAxisIndex: 1 });
      series.push({ type: "line", name: data.labels.good, data: data.ks.good, xAxisIndex: 1, yAxisIndex: 1 });
    }
    chart.setOption({ tooltip: { trigger: "axis" }, grid: grids, xAxis: xs, yAxis: ys, series: series });
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
window.addEventListener("load", drawRoc);

// Monthly series: <div data-series-chart="ID of {months, metrics: [{key, label}],
// series: [{name, values: {key: [...]}}]}" data-series-metric="select" data-series-pick="select">
// draws the first series (the whole) and, when picked, one more to compare.
function drawSeries() {
  document.querySelectorAll("[data-series-chart]").forEach(function (box) {
    if (!window.echarts) return;
    var data = JSON.parse(document.getElementById(box.dataset.seriesChart).textContent);
    var metric = document.getElementById(box.dataset.seriesMetric);
    var pick = document.getElementById(box.dataset.seriesPick);
    var chart = window.echarts.init(box);
    function show() {
      var key = metric ? metric.value : data.metrics[0].key;
      var chosen = [0];
      if (pick && Number(pick.value) > 0) chosen.push(Number(pick.value));
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        xAxis: { type: "category", data: data.months },
        yAxis: { type: "value" },
        series: chosen.map(function (i) {
          var s = data.series[i];
          return { type: "line", name: s.name, data: s.values[key], connectNulls: false };
        })
      }, true);
    }
    show();
    if (metric) metric.addEventListener("change", show);
    if (pick) pick.addEventListener("change", show);
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
window.addEventListener("load", drawSeries);

// District tile map: <div data-tile-map="ID of {tiles: [{name, x, y, share, entities,
// borrowers}], labels}">: one tile per district at its place on a grid, coloured by share.
function drawTileMap() {
  document.querySelectorAll("[data-tile-map]").forEach(function (box) {
    if (!window.echarts) return;
    var data = JSON.parse(document.getElementById(box.dataset.tileMap).textContent);
    var cols = 1, rows = 1, top = 0;
    data.tiles.forEach(function (t) {
      cols = Math.max(cols, t.x + 1); rows = Math.max(rows, t.y + 1);
      top = Math.max(top, t.share || 0);
    });
    var xs = [], ys = [];
    for (var i = 0; i < cols; i++) xs.push(String(i));
    for (var j = 0; j < rows; j++) ys.push(String(j));
    var chart = window.echarts.init(box);
    chart.setOption({
      tooltip: {
        formatter: function (p) {
          var t = data.tiles[p.dataIndex];
          return t.name + "<br>" + data.labels.share + ": " + (t.share === null ? "—" : t.share + "%") +
            "<br>" + data.labels.borrowers + ": " + t.borrowers + " / " + data.labels.entities + ": " + t.entities;
        }
      },
      grid: { left: 8, right: 8, top: 8, bottom: 48 },
      xAxis: { type: "category", data: xs, show: false },
      yAxis: { type: "category", data: ys, inverse: true, show: false },
      visualMap: {
        min: 0, max: top > 0 ? top : 1, calculable: true, orient: "horizontal", left: "center",
        bottom: 0, text: [data.labels.share, ""], inRange: { color: ["#f2f6fb", "#1f5fa8"] }
      },
      series: [{
        type: "heatmap",
        data: data.tiles.map(function (t) { return [t.x, t.y, t.share === null ? 0 : t.share]; }),
        itemStyle: { borderColor: "#fff", borderWidth: 3 },
        label: {
          show: true,
          formatter: function (p) {
            var t = data.tiles[p.dataIndex];
            return t.name + "\n" + (t.share === null ? "—" : t.share + "%");
          }
        }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
window.addEventListener("load", drawTileMap);
