/*
 * The navigation bar's customer search box: results as you type, Enter opens the one hit.
 *
 * Served by the app itself and loaded with the page's CSP nonce; it adds no inline handlers
 * (the policy would refuse them). Requests wait until typing pauses (DEBOUNCE_MS) and an answer
 * to an older query is dropped, so the list always belongs to what is in the box. Results are
 * written with textContent, never as HTML: a name is data, not markup. The server decides what
 * is shown (scope and masking); this file only lays it out.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;
  var form = document.getElementById("crm-search");
  if (!form) { return; }
  var input = document.getElementById("crm-search-input");
  var list = document.getElementById("crm-search-results");
  var endpoint = form.getAttribute("data-endpoint");
  var timer = null;
  var sequence = 0;
  var hits = [];
  var active = -1;
  var lastQuery = "";

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    active = -1;
  }

  function line(className, text) {
    var element = document.createElement("div");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function highlight(index) {
    var items = list.querySelectorAll(".crm-search-hit");
    for (var n = 0; n < items.length; n++) {
      items[n].classList.toggle("active", n === index);
      items[n].setAttribute("aria-selected", n === index ? "true" : "false");
    }
    active = index;
  }

  function render(data) {
    list.textContent = "";
    hits = data.results || [];
    hits.forEach(function (hit, index) {
      var link = document.createElement("a");
      link.className = "crm-search-hit";
      link.href = hit.url;
      link.setAttribute("role", "option");
      link.id = "crm-search-hit-" + index;
      var title = line("crm-search-title", "");
      var name = document.createElement("strong");
      name.textContent = hit.name;
      title.appendChild(name);
      title.appendChild(document.createTextNode(" " + hit.customer_no));
      link.appendChild(title);
      var details = [hit.branch, hit.id_number, hit.mobile].filter(Boolean).join(" · ");
      link.appendChild(line("crm-search-detail", details));
      link.appendChild(line("crm-search-match", hit.matched_label));
      list.appendChild(link);
    });
    if (data.message) {
      list.appendChild(line("crm-search-message", data.message));
    }
    var empty = !hits.length && !data.message;
    list.hidden = empty;
    input.setAttribute("aria-expanded", empty ? "false" : "true");
    active = -1;
  }

  function search(query) {
    var mine = ++sequence;
    lastQuery = query;
    form.classList.add("crm-searching");
    fetch(endpoint + "?q=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        return { ok: response.ok, body: body };
      });
    }).then(function (answer) {
      if (mine !== sequence) { return; }  // an older query answered late
      form.classList.remove("crm-searching");
      if (!answer.ok) {
        render({ results: [], message: answer.body.error || form.getAttribute("data-failed") });
        return;
      }
      render(answer.body);
    }).catch(function () {
      if (mine !== sequence) { return; }
      form.classList.remove("crm-searching");
      render({ results: [], message: form.getAttribute("data-failed") });
    });
  }

  input.addEventListener("input", function () {
    var query = input.value.trim();
    clearTimeout(timer);
    if (!query) {
      sequence++;
      hits = [];
      lastQuery = "";
      list.textContent = "";
      close();
      return;
    }
    timer = setTimeout(function () { search(query); }, DEBOUNCE_MS);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!hits.length) { return; }
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + hits.length) % hits.length);
    } else if (event.key === "Escape") {
      close();
    } else if (event.key === "Enter") {
      var query = input.value.trim();
      if (!query) { event.preventDefault(); return; }
      if (active >= 0 && hits[active]) {
        event.preventDefault();
        window.location.assign(hits[active].url);
      } else if (hits.length === 1 && query === lastQuery) {
        event.preventDefault();
        window.location.assign(hits[0].url);
      }
      // Otherwise the form is submitted: the server opens a single hit or lists them.
    }
  });

  document.addEventListener("click", function (event) {
    if (!form.contains(event.target)) { close(); }
  });
  input.addEventListener("focus", function () {
    if (list.childNodes.length && input.value.trim()) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
  });
})();
