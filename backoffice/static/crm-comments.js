/*
 * @mentions in comment boxes: typing "@" and the start of a name offers active colleagues;
 * choosing one writes "@Name " into the text and remembers their id in a hidden field, which
 * settles the choice when two colleagues share a name (the server resolves the text anyway).
 *
 * Served by the app and loaded with the page's CSP nonce, once per page. It listens on the
 * document, so it also serves comment boxes that arrive later (the 360 page's tabs). Names
 * are written with textContent, never as HTML. An answer to an older query is dropped.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 200;
  var TRIGGER = /(^|[^0-9A-Za-z_.@])@([^\s@]{1,20})$/;
  var state = {box: null, menu: null, hits: [], active: -1, start: -1, timer: null, seq: 0};

  function close() {
    if (state.menu) { state.menu.remove(); }
    state.menu = null; state.hits = []; state.active = -1;
  }

  function highlight(index) {
    if (!state.menu) { return; }
    var items = state.menu.querySelectorAll("li");
    for (var n = 0; n < items.length; n++) {
      items[n].className = n === index ? "active" : "";
    }
    state.active = index;
  }

  function choose(index) {
    var hit = state.hits[index];
    var box = state.box;
    if (!hit || !box) { return; }
    var caret = box.selectionStart;
    var text = box.value;
    var inserted = "@" + hit.name + " ";
    box.value = text.slice(0, state.start) + inserted + text.slice(caret);
    var position = state.start + inserted.length;
    box.setSelectionRange(position, position);
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "mention_ids";
    field.value = String(hit.id);
    box.form.appendChild(field);
    close();
    box.focus();
  }

  function show(box, hits) {
    close();
    if (!hits.length) { return; }
    var menu = document.createElement("ul");
    menu.className = "dropdown-menu crm-mention-menu";
    menu.setAttribute("role", "listbox");
    menu.style.display = "block";
    menu.style.position = "static";
    menu.style.float = "none";
    hits.forEach(function (hit, index) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#";
      link.textContent = hit.name + " (" + hit.username + ")";
      link.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(index);
      });
      item.appendChild(link);
      menu.appendChild(item);
    });
    box.parentNode.insertBefore(menu, box.nextSibling);
    state.menu = menu; state.hits = hits; state.box = box;
    highlight(0);
  }

  function lookup(box) {
    var before = box.value.slice(0, box.selectionStart);
    var match = TRIGGER.exec(before);
    if (!match) { close(); return; }
    state.box = box;
    state.start = before.length - match[2].length - 1;
    var query = match[2];
    var seq = ++state.seq;
    var url = box.getAttribute("data-mention-url") + "?q=" + encodeURIComponent(query);
    fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "XMLHttpRequest",
                                                      "Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {staff: []}; })
      .then(function (data) { if (seq === state.seq) { show(box, data.staff || []); } })
      .catch(close);
  }

  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-mention-url]")) { return; }
    clearTimeout(state.timer);
    state.timer = setTimeout(function () { lookup(box); }, DEBOUNCE_MS);
  });

  document.addEventListener("keydown", function (event) {
    if (!state.menu || event.target !== state.box) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      highlight((state.active + step + state.hits.length) % state.hits.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      choose(state.active < 0 ? 0 : state.active);
    } else if (event.key === "Escape") {
      close();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target === state.box) { setTimeout(close, 150); }
  });
})();
