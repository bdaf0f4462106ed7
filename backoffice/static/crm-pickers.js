/* Date and date-time pickers (backoffice/pickers.py): the calendar in the user's language.
 *
 * The server hands this locale's calendar texts on this script's tag; inputs marked
 * data-crm-picker="date" or "datetime" get the calendar. A date-time input sits beside a time
 * select posted under the same name; picking a day with no time chosen yet proposes 09:00 in
 * the select (visible, so the person sees and can change it).
 */
(function () {
  "use strict";
  var tag = document.currentScript;
  var language = (tag && tag.getAttribute("data-language")) || "en";
  var texts = {};
  try {
    texts = JSON.parse((tag && tag.getAttribute("data-texts")) || "{}");
  } catch (ignored) {
    texts = {};
  }

  function start($) {
    if (!$.fn.datepicker || window.crmPickersStarted) {
      return;
    }
    window.crmPickersStarted = true;
    if (texts.days) {
      $.fn.datepicker.dates[language] = texts;
    }
    $("input[data-crm-picker]").each(function () {
      var input = $(this);
      input.datepicker({
        format: "yyyy-mm-dd",
        language: $.fn.datepicker.dates[language] ? language : "en",
        weekStart: texts.weekStart || 0,
        autoclose: true,
        todayHighlight: true,
        todayBtn: "linked",
        clearBtn: true,
        forceParse: false
      });
      if (input.attr("data-crm-picker") === "datetime") {
        input.on("changeDate", function () {
          var time = document.getElementById(this.id + "-time");
          if (time && !time.value && this.value) {
            time.value = "09:00";
          }
        });
      }
    });
  }

  if (window.jQuery) {
    window.jQuery(function () { start(window.jQuery); });
  }
}());
