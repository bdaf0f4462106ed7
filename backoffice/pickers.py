"""Date and date-time inputs that match their column's type, in the user's language.

Flask-AppBuilder draws a *date-only* calendar (bootstrap-datepicker, English only) for both date
and date-time columns: a date-time field then receives ``2026-12-08``, refuses it as "not a valid
date and time", and a form that leaves the field optional fell back to its default. Here:

* a date column gets :class:`DatePicker` (the calendar, ISO date, typed input still accepted);
* a date-time column gets :class:`DateTimePicker`: the calendar for the day and a time select
  (quarter hours), posted as two values of one name, which :class:`LocalDateTimeField` joins.
  The time is typed and shown in the display zone (``CRM_DISPLAY_TIMEZONE``) and stored as naive
  UTC, like every stored time;
* the calendar's own texts (month and day names, "today", "clear", first day of the week) come
  from the user's locale (Babel) and the app's catalogue, handed to ``crm-pickers.js`` on the
  script tag the first widget of a page emits.

A value the field cannot read is refused with a message next to the field, never replaced by a
default. :func:`install` makes FAB's form converter use these for every model column.
"""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from flask import current_app, g, url_for
from flask_babel import get_locale, gettext, pgettext
from markupsafe import Markup
from wtforms import DateField, DateTimeField
from wtforms.widgets import html_params

DATE_FORMAT = "%Y-%m-%d"
TIME_FORMATS = ("%H:%M", "%H:%M:%S")
TIME_STEP_MINUTES = 15
_G_ASSETS = "_crm_picker_assets"


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])


def to_local(value: dt.datetime | None) -> dt.datetime | None:
    """A stored naive-UTC time in the display zone (naive, as the inputs show it)."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(_zone()).replace(tzinfo=None)


def to_utc(value: dt.datetime) -> dt.datetime:
    """A time typed in the display zone as naive UTC (how times are stored)."""
    aware = value if value.tzinfo else value.replace(tzinfo=_zone())
    return aware.astimezone(dt.timezone.utc).replace(tzinfo=None)


def calendar_texts() -> dict:
    """bootstrap-datepicker's language record for the user's locale."""
    from babel import Locale
    from babel.dates import get_day_names, get_month_names

    locale = get_locale() or Locale.parse(current_app.config.get("BABEL_DEFAULT_LOCALE", "en"))

    def week(width):  # Babel counts Monday as 0; the calendar wants Sunday first
        names = get_day_names(width, locale=locale)
        return [names[6], *(names[i] for i in range(6))]

    def year(width):
        names = get_month_names(width, locale=locale)
        return [names[i] for i in range(1, 13)]

    return {
        "days": week("wide"), "daysShort": week("abbreviated"), "daysMin": week("short"),
        "months": year("wide"), "monthsShort": year("abbreviated"),
        "today": gettext("Today"), "clear": gettext("Clear"),
        "titleFormat": pgettext("date picker title", "MM yyyy"),
        "weekStart": (locale.first_week_day + 1) % 7,
    }


def assets() -> Markup:
    """The picker script with this locale's texts, once per page (empty after the first)."""
    if g.get(_G_ASSETS):
        return Markup("")
    g.setdefault(_G_ASSETS, True)
    from backoffice.security.headers import csp_nonce

    language = str(get_locale() or "en")
    return Markup('<script nonce="{nonce}" src="{src}" data-language="{language}" '
                  'data-texts="{texts}"></script>').format(
                                      nonce=csp_nonce(),
                                      src=url_for("static", filename="crm-pickers.js"),
                                      language=language,
                                      texts=json.dumps(calendar_texts(), ensure_ascii=False))


def _addon() -> Markup:
    return Markup('<span class="input-group-addon"><i class="fa fa-calendar"></i></span>')


class DatePicker:
    """A date input with the calendar (``YYYY-MM-DD``; typing it works too)."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        kwargs["class"] = f"form-control {kwargs.get('class', '')}".strip()
        value = field._value() if hasattr(field, "_value") else (field.data or "")
        params = html_params(type="text", value=value, autocomplete="off",
                             placeholder=gettext("YYYY-MM-DD"), data_crm_picker="date",
                             **kwargs)
        return assets() + Markup('<div class="input-group crm-date">{addon}<input {params}>'
                                 "</div>").format(addon=_addon(), params=Markup(params))


def time_choices(current: str = "") -> list[str]:
    """Quarter hours of the day, plus the field's own time when it is off that grid."""
    times = [f"{minute // 60:02d}:{minute % 60:02d}"
             for minute in range(0, 24 * 60, TIME_STEP_MINUTES)]
    if current and current not in times:
        times = sorted([*times, current])
    return times


class DateTimePicker:
    """The calendar for the day and a time select, both posted under the field's name."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs["class"] = f"form-control {kwargs.get('class', '')}".strip()
        day, time = field.local_parts() if hasattr(field, "local_parts") else ("", "")
        date_params = html_params(type="text", name=field.name, value=day, autocomplete="off",
                                  placeholder=gettext("YYYY-MM-DD"),
                                  data_crm_picker="datetime", **kwargs)
        options = [Markup('<option value="">{}</option>').format(gettext("Time"))]
        options += [Markup('<option value="{0}"{1}>{0}</option>').format(
            choice, Markup(" selected") if choice == time else "")
            for choice in time_choices(time)]
        select_params = html_params(name=field.name, id=f"{field.id}-time",
                                    class_="form-control crm-time",
                                    title=gettext("Time (%(zone)s)",
                                                  zone=current_app.config["CRM_DISPLAY_TIMEZONE"]))
        return assets() + Markup(
            '<div class="crm-datetime" style="display:flex;gap:6px;max-width:26em">'
            '<div class="input-group crm-date" style="flex:3">{addon}<input {date}></div>'
            '<select {select} style="flex:2">{options}</select></div>'
        ).format(addon=_addon(), date=Markup(date_params), select=Markup(select_params),
                 options=Markup("").join(options))


class LocalDateTimeField(DateTimeField):
    """A date-time typed in the display zone, held as naive UTC (``data``).

    Accepts the picker's two values (day, time) or one combined text (``YYYY-MM-DD HH:MM`` with
    optional seconds, as a script or an older form posts it)."""

    widget = DateTimePicker()

    def __init__(self, label=None, validators=None, format=None, **kwargs):  # noqa: A002
        formats = [f"{DATE_FORMAT} {t}" for t in TIME_FORMATS]
        super().__init__(label, validators, format=formats, **kwargs)

    def process_formdata(self, valuelist):
        parts = [(value or "").strip() for value in valuelist]
        # Optional() looks at raw_data[0] only: a time without a day must not pass as empty.
        self.raw_data = [" ".join(part for part in parts if part)]
        self.data = None
        if not any(parts):
            return
        if len(parts) >= 2 and not parts[0]:
            raise ValueError(gettext("Choose a day as well as the time."))
        if len(parts) >= 2 and not parts[1]:
            raise ValueError(gettext("Choose a time as well as the day."))
        text = self.raw_data[0]
        for fmt in self.strptime_format:
            try:
                self.data = to_utc(dt.datetime.strptime(text, fmt))
                return
            except ValueError:
                continue
        raise ValueError(gettext("%(value)s is not a date and time: pick a day and a time, "
                                 "or write YYYY-MM-DD HH:MM.", value=text))

    def local_parts(self) -> tuple[str, str]:
        """The day and time the inputs show: what was posted, else the value in local time."""
        if self.raw_data and self.raw_data[0]:
            day, _, time = self.raw_data[0].partition(" ")
            return day, time[:5] if len(time) >= 5 else time
        local = to_local(self.data) if isinstance(self.data, dt.datetime) else None
        if local is None:
            return "", ""
        return local.strftime(DATE_FORMAT), local.strftime("%H:%M")

    def _value(self):
        day, time = self.local_parts()
        return f"{day} {time}".strip()


class LocalDateField(DateField):
    """A date with the calendar; a value it cannot read gets a message saying how to write it."""

    widget = DatePicker()

    def __init__(self, label=None, validators=None, format=DATE_FORMAT, **kwargs):  # noqa: A002
        super().__init__(label, validators, format=format, **kwargs)

    def process_formdata(self, valuelist):
        text = " ".join(value.strip() for value in valuelist if value and value.strip())
        self.data = None
        if not text:
            return
        try:
            self.data = dt.datetime.strptime(text, DATE_FORMAT).date()
        except ValueError:
            raise ValueError(gettext("%(value)s is not a date: pick a day, or write "
                                     "YYYY-MM-DD.", value=text)) from None


BLANK_CHOICE = "—"


def _choice_label(record):
    """A related record as a select shows it: roles by their label, not their code."""
    from flask_appbuilder.security.sqla.models import Role

    from backoffice.formatting import role_label

    return role_label(record) if isinstance(record, Role) else record


def _blank_relation_choice() -> None:
    """A relation select's empty choice reads "—": FAB gives it no text, and WTForms then shows
    its internal value ``__None`` to the person choosing. Its records show as
    :func:`_choice_label` does (FAB would show a role's code)."""
    from flask_appbuilder.fields import QuerySelectField

    if getattr(QuerySelectField, "_crm_blank_text", False):
        return
    original = QuerySelectField.__init__

    def __init__(self, *args, blank_text=BLANK_CHOICE, get_label=None, **kwargs):
        original(self, *args, blank_text=blank_text or BLANK_CHOICE,
                 get_label=get_label or _choice_label, **kwargs)

    QuerySelectField.__init__ = __init__
    QuerySelectField._crm_blank_text = True


def install() -> None:
    """FAB's model-form converter: these fields and pickers for Date and DateTime columns (the
    converter calls ``widget()`` on the class it is given), and relation selects whose empty
    choice has a text.

    Called before any view is registered (FAB builds its forms when a view is added)."""
    from flask_appbuilder.forms import FieldConverter

    _blank_relation_choice()

    table = []
    for marker, field, widget in FieldConverter.conversion_table:
        if marker == "is_date":
            field, widget = LocalDateField, DatePicker
        elif marker == "is_datetime":
            field, widget = LocalDateTimeField, DateTimePicker
        table.append((marker, field, widget))
    FieldConverter.conversion_table = tuple(table)
