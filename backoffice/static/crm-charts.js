/* Draws every <div class="crm-chart" data-figure="..."> with Plotly (see backoffice/charts.py).
   A point's customdata is the URL of the filtered list behind it: clicking opens that list.
   Loaded with "defer" by the chart macro, only on pages that draw a chart, after the partial
   Plotly bundle (bar, scatter, pie, heatmap...: funnels arrive as horizontal bars). */
(function () {
  function linkOf(point) {
    var url = point.customdata;
    if (Array.isArray(url)) { url = url[0]; }
    // Only a path on this site: "//host" and "/\\host" would leave it.
    return (typeof url === "string" && /^\/(?![\/\\])/.test(url)) ? url : null;
  }
  // Axes a caller set itself (layout.xaxis = {type: "category"}) lose the Python defaults:
  // every axis grows its margin to fit its tick labels, so long labels never run into the
  // legend, the title or the next chart.
  function withAxisDefaults(layout) {
    layout.xaxis = layout.xaxis || {};
    layout.yaxis = layout.yaxis || {};
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key) && layout[key].automargin === undefined) {
        layout[key].automargin = true;
      }
    });
    return layout;
  }
  function draw(el) {
    var figure = JSON.parse(el.getAttribute("data-figure"));
    var config = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"]};
    Plotly.newPlot(el, figure.data, withAxisDefaults(figure.layout || {}), config).then(function () {
      el.on("plotly_click", function (event) {
        var url = event.points && event.points.length ? linkOf(event.points[0]) : null;
        if (url) { window.location.href = url; }
      });
    });
  }
  function drawAll() {
    var charts = document.querySelectorAll(".crm-chart");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
