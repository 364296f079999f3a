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
