/* The data wall (templates/datawall/wall.html, backoffice/datawall/): draws the figures the page
   came with, then fetches the same JSON every data-refresh-seconds and redraws in place (no page
   reload, so a TV never flashes white). A failed fetch keeps the last figures and says so.
   Loaded with "defer" after the app's own Plotly; no inline script (CSP). */
(function () {
  var root = document.getElementById("datawall");
  if (!root) { return; }
  var config = {displaylogo: false, displayModeBar: false, responsive: true, staticPlot: true};

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value || ""; }
  }

  function kpiElement(kpi) {
    var el = document.createElement("div");
    el.className = "kpi";
    el.setAttribute("data-key", kpi.key);
    ["kpi-label", "kpi-value", "kpi-note"].forEach(function (name) {
      var part = document.createElement("div");
      part.className = name;
      el.appendChild(part);
    });
    return el;
  }

  // A big number shrinks until it fits its tile (a bank's assets run to 13 digits and more)
  // instead of being cut off with an ellipsis.
  function fit(el) {
    el.style.fontSize = "";
    var size = parseFloat(window.getComputedStyle(el).fontSize);
    while (el.scrollWidth > el.clientWidth && size > 24) {
      size -= 4;
      el.style.fontSize = size + "px";
    }
  }

  function renderKpis(kpis) {
    var box = document.getElementById("wall-kpis");
    box.textContent = "";
    kpis.forEach(function (kpi) {
      var el = kpiElement(kpi);
      el.querySelector(".kpi-label").textContent = kpi.label;
      el.querySelector(".kpi-value").textContent = kpi.value;
      el.querySelector(".kpi-note").textContent = kpi.note || "";
      box.appendChild(el);
      fit(el.querySelector(".kpi-value"));
    });
  }

  function tileElement(tile) {
    var el = document.createElement("figure");
    el.className = "tile";
    el.id = "tile-" + tile.key;
    el.setAttribute("data-key", tile.key);
    var caption = document.createElement("figcaption");
    var chart = document.createElement("div");
    chart.className = "tile-chart";
    chart.setAttribute("role", "img");
    var empty = document.createElement("p");
    empty.className = "tile-empty";
    el.appendChild(caption);
    el.appendChild(chart);
    el.appendChild(empty);
    return el;
  }

  function renderCharts(tiles) {
    var box = document.getElementById("wall-charts");
    var wanted = {};
    tiles.forEach(function (tile, index) {
      wanted[tile.key] = true;
      var el = document.getElementById("tile-" + tile.key) || tileElement(tile);
      if (box.children[index] !== el) { box.insertBefore(el, box.children[index] || null); }
      el.querySelector("figcaption").textContent = tile.title;
      var chart = el.querySelector(".tile-chart");
      var empty = el.querySelector(".tile-empty");
      chart.setAttribute("aria-label", tile.title);
      if (tile.figure.empty) {
        if (window.Plotly) { Plotly.purge(chart); }
        chart.hidden = true;
        empty.textContent = tile.figure.empty.text;
        empty.hidden = false;
      } else {
        empty.hidden = true;
        chart.hidden = false;
        if (window.Plotly) { Plotly.react(chart, tile.figure.data, tile.figure.layout, config); }
      }
    });
    Array.prototype.slice.call(box.children).forEach(function (el) {
      if (!wanted[el.getAttribute("data-key")]) {
        if (window.Plotly) { Plotly.purge(el.querySelector(".tile-chart")); }
        box.removeChild(el);
      }
    });
  }

  function render(payload) {
    text("wall-title", payload.title);
    text("wall-as-of", payload.as_of);
    text("wall-updated", payload.updated);
    renderKpis(payload.kpis || []);
    renderCharts(payload.charts || []);
  }

  var seconds = Math.max(parseInt(root.getAttribute("data-refresh-seconds"), 10) || 60, 1);
  var url = root.getAttribute("data-figures-url");

  function refresh() {
    fetch(url, {credentials: "same-origin", cache: "no-store",
                headers: {"Accept": "application/json"}})
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        // A signed-out session answers with the login page: keep the figures, say so.
        if (!response.ok || type.indexOf("application/json") !== 0) { throw new Error("stale"); }
        return response.json();
      })
      .then(function (payload) {
        render(payload);
        text("wall-status", "");
        var done = parseInt(root.getAttribute("data-refreshes"), 10) || 0;
        root.setAttribute("data-refreshes", String(done + 1));
      })
      .catch(function () { text("wall-status", root.getAttribute("data-failed")); })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }

  var fullscreen = document.getElementById("wall-fullscreen");
  function fullscreenLabel() {
    fullscreen.textContent = fullscreen.getAttribute(
      document.fullscreenElement ? "data-exit" : "data-enter");
  }
  fullscreen.addEventListener("click", function () {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen();
    }
  });
  document.addEventListener("fullscreenchange", fullscreenLabel);

  var choice = document.getElementById("wall-choice");
  if (choice) {
    choice.addEventListener("change", function () { window.location.href = choice.value; });
  }

  window.addEventListener("resize", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".kpi-value"), fit);
  });

  render(JSON.parse(root.getAttribute("data-payload")));
  window.setTimeout(refresh, seconds * 1000);
})();
