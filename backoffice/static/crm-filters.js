/* Default-filter pickers of field sets (backoffice/fields/filter_picker.py): only the rows in
 * use show, with a menu to add another field's row; a range's second bound shows for "between"
 * only; on a form with a record-type select, only that type's rows show (the others are
 * disabled, so they are not posted). Without this script every row shows and works. */
(function () {
  "use strict";

  function each(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }

  function wire(box) {
    var rows = box.querySelectorAll("tr.crm-filter-row");
    var add = box.querySelector("select.crm-filter-add");
    var form = box.closest("form");
    var inputName = box.getAttribute("data-entity-input");
    var entitySelect = inputName && form ? form.querySelector("[name='" + inputName + "']") : null;

    function bounds(row) {
      var op = row.querySelector("select.crm-filter-op");
      var upper = row.querySelector("td.crm-filter-upper");
      if (op && upper) {
        upper.style.visibility = op.value === "between" ? "" : "hidden";
      }
    }

    function refresh() {
      var entity = entitySelect ? entitySelect.value : null;
      while (add.options.length > 1) { add.remove(1); }
      each(box.querySelectorAll("tr.crm-filter-group"), function (head) {
        head.style.display = !entity || head.getAttribute("data-entity") === entity ? "" : "none";
      });
      each(rows, function (row, index) {
        var mine = !entity || row.getAttribute("data-entity") === entity;
        var used = row.getAttribute("data-used") === "1";
        row.style.display = mine && used ? "" : "none";
        each(row.querySelectorAll("input, select"), function (input) { input.disabled = !mine; });
        if (mine && !used) {
          var option = document.createElement("option");
          option.value = String(index);
          option.textContent = row.querySelector("label").textContent;
          add.appendChild(option);
        }
        bounds(row);
      });
      add.hidden = false;
    }

    each(rows, function (row) {
      var op = row.querySelector("select.crm-filter-op");
      op.addEventListener("change", function () { bounds(row); });
    });
    add.addEventListener("change", function () {
      var row = rows[Number(add.value)];
      if (row) {
        row.setAttribute("data-used", "1");
        refresh();
        row.querySelector("select.crm-filter-op").focus();
      }
      add.value = "";
    });
    if (entitySelect) {
      entitySelect.addEventListener("change", refresh);
      if (window.jQuery) {
        window.jQuery(entitySelect).on("change", refresh);  /* Select2 announces through jQuery */
      }
    }
    refresh();
  }

  function start() { each(document.querySelectorAll("div.crm-filters"), wire); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
