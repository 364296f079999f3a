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
        series: [{ type: "line", name: t.name, data: t.values }]
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
