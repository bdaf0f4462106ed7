/* Column pickers (backoffice/fields/columns.py): reorder ticked columns by drag and drop or
 * with the arrow buttons; on a form with a record-type select, only that type's columns show
 * (the others are disabled, so they are not posted). */
(function () {
  "use strict";

  function wire(list) {
    var dragged = null;
    list.addEventListener("dragstart", function (event) {
      dragged = event.target.closest("li.crm-column");
      if (event.dataTransfer) {
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", "");
      }
    });
    list.addEventListener("dragover", function (event) {
      var over = event.target.closest("li.crm-column");
      if (!dragged || !over || over === dragged ||
          over.getAttribute("data-entity") !== dragged.getAttribute("data-entity")) {
        return;
      }
      event.preventDefault();
      var box = over.getBoundingClientRect();
      var after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (event) { event.preventDefault(); dragged = null; });
    list.addEventListener("dragend", function () { dragged = null; });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button.crm-column-up, button.crm-column-down");
      if (!button) {
        return;
      }
      var item = button.closest("li.crm-column");
      var up = button.classList.contains("crm-column-up");
      var other = up ? item.previousElementSibling : item.nextElementSibling;
      if (other && other.classList.contains("crm-column") &&
          other.getAttribute("data-entity") === item.getAttribute("data-entity")) {
        list.insertBefore(item, up ? other : other.nextSibling);
      }
    });

    var inputName = list.getAttribute("data-entity-input");
    var form = list.closest("form");
    var select = inputName && form ? form.querySelector("[name='" + inputName + "']") : null;
    if (!select) {
      return;
    }
    function show() {
      var entity = select.value;
      Array.prototype.forEach.call(list.querySelectorAll("li[data-entity]"), function (li) {
        var mine = li.getAttribute("data-entity") === entity;
        li.style.display = mine ? "" : "none";
        var box = li.querySelector("input");
        if (box) {
          box.disabled = !mine;
        }
      });
    }
    select.addEventListener("change", show);
    if (window.jQuery) {
      window.jQuery(select).on("change", show);  /* Select2 announces through jQuery */
    }
    show();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("ul.crm-columns"), wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
