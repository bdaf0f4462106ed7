/* Draws every <div class="crm-chart" data-figure="..."> with Plotly (see backoffice/charts.py).
   A point's customdata is the URL of the filtered list behind it: clicking opens that list. */
(function () {
  function linkOf(point) {
    var url = point.customdata;
    if (Array.isArray(url)) { url = url[0]; }
    // Only a path on this site: "//host" and "/\\host" would leave it.
    return (typeof url === "string" && /^\/(?![\/\\])/.test(url)) ? url : null;
  }
  function draw(el) {
    var figure = JSON.parse(el.getAttribute("data-figure"));
    var config = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"]};
    Plotly.newPlot(el, figure.data, figure.layout, config).then(function () {
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
