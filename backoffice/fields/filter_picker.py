"""A field set's default filters, picked: the field by its label, the operator from those that
fit the field's type, the value with an input of that type.

The form shows one row per field the set may filter by (``set_filters.targets``: the record's
own columns and its custom fields), grouped by record type like the column picker: the
operator select ("—" means no filter) and the value input of the field's kind (a number, the
calendar, the day and time, a yes/no select, a list of the choices' labels, the branches or
products by name); a range has a second bound. A stored filter shows in its field's row, so a
set saved by the older typed form reads and saves the same. ``crm-filters.js`` shows only the
rows in use and a menu to add one; without script every row shows, and works.

Posted as ``filters-<n>-entity|field|op|value|value2``. A time is typed in the display zone and
stored in UTC, like every stored time.
"""
from __future__ import annotations

import datetime as dt

from flask import g, url_for
from flask_babel import gettext
from markupsafe import Markup
from wtforms import Field

from backoffice.fields import set_filters
from backoffice.pickers import DatePicker, DateTimePicker, to_local, to_utc

_G_SCRIPT = "_crm_filters_script"
NO_FILTER = ""


def op_labels() -> dict:
    """The rule builder's words for the same comparisons (``segments``)."""
    return {"eq": gettext("equals"), "contains": gettext("contains"),
            "any_of": gettext("is one of"), "gt": gettext("greater than"),
            "gte": gettext("at least"), "lt": gettext("less than"), "lte": gettext("at most"),
            "between": gettext("between")}


# --- reading a posted row and showing a stored one ------------------------------------------


def _local_to_utc_text(raw: str) -> str:
    """A day and time typed in the display zone as stored UTC text (``YYYY-MM-DD HH:MM:SS``)."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text  # the check says what is wrong with it
    return to_utc(moment).isoformat(sep=" ")


def _utc_to_local_text(raw) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(raw).strip())
    except ValueError:
        return str(raw or "")
    return to_local(moment).strftime("%Y-%m-%d %H:%M")


def _joined(values: list[str]) -> str:
    """The picker posts a date-time as two values (day, time); other inputs post one."""
    return " ".join(value.strip() for value in values if value and value.strip())


def read_row(target: set_filters.Target | None, op: str, values: list[str],
             upper: list[str]) -> dict | None:
    """A posted row as a stored filter (None: no filter chosen)."""
    if not op:
        return None
    kind = target.kind if target is not None else "text"
    if kind in ("choice", "multi_choice") and op in ("eq", "any_of"):
        chosen = [value for value in values if value]
        if op == "eq" and len(chosen) == 1:
            return {"op": "eq", "value": chosen[0]}
        return {"op": "any_of", "value": chosen}
    if kind == "datetime":
        low, high = _local_to_utc_text(_joined(values)), _local_to_utc_text(_joined(upper))
    else:
        low, high = _joined(values), _joined(upper)
    if op == "between":
        return {"op": op, "value": [low, high]}
    return {"op": op, "value": low}


def shown_value(target: set_filters.Target | None, value) -> str:
    """A stored operand in words: choices by label, yes/no, times in the display zone."""
    if isinstance(value, list):
        return "、".join(shown_value(target, item) for item in value if item not in (None, ""))
    if value is None or value == "":
        return "—"
    if target is None:
        return str(value)
    if target.kind in ("choice", "multi_choice", "boolean"):
        code = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return target.choice_label(code)
    if target.kind == "datetime":
        return _utc_to_local_text(value)
    return str(value)


def describe(entity: str, conditions) -> str:
    """A set's filters as the show page and list read them: "状态 等于 正常; ..."."""
    from backoffice.fields.columns import label_of

    by_key = {t.key: t for t in set_filters.targets(entity)} if entity else {}
    labels = op_labels()
    parts = []
    for condition in conditions or []:
        if not isinstance(condition, dict):
            continue
        key = condition.get("field")
        target = by_key.get(key)
        label = target.label if target is not None else (
            label_of(entity, str(key)) if entity else str(key))
        op, value = condition.get("op", "eq"), condition.get("value")
        if op == "between" and isinstance(value, list):
            low, high = (list(value) + ["", ""])[:2]
            text = f"{shown_value(target, low)} {gettext('to')} {shown_value(target, high)}"
        else:
            text = shown_value(target, value)
        parts.append(f"{label} {labels.get(op, op)} {text}")
    return "; ".join(parts)


# --- the widget ------------------------------------------------------------------------------


class _Input:
    """What the date pickers need of a field: an id, a name and the text it shows."""

    def __init__(self, ident: str, name: str, text: str):
        self.id, self.name, self._text = ident, name, text

    def _value(self):
        return self._text

    def local_parts(self):
        day, _, time = self._text.partition(" ")
        return day, time[:5]


def _script() -> Markup:
    if g.get(_G_SCRIPT):
        return Markup("")
    g.setdefault(_G_SCRIPT, True)
    from backoffice.security.headers import csp_nonce

    return Markup('<script nonce="{}" src="{}"></script>').format(
        csp_nonce(), url_for("static", filename="crm-filters.js"))


def _options(pairs, chosen) -> Markup:
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            value, Markup(" selected") if value in chosen else "", label)
        for value, label in pairs)


def _value_input(target, name: str, ident: str, value, second: bool) -> Markup:
    """The value input of the target's kind (``second``: the upper bound of a range)."""
    kind = target.kind if target is not None else "text"
    if kind in ("choice", "multi_choice", "boolean"):
        if second:
            return Markup("")
        chosen = value if isinstance(value, list) else [value]
        chosen = [("true" if item else "false") if isinstance(item, bool) else str(item)
                  for item in chosen if item not in (None, "")]
        if kind == "boolean":
            return Markup('<select class="form-control" name="{}" id="{}">{}</select>').format(
                name, ident, _options([("", "—"), *target.choices], chosen))
        return Markup('<select class="form-control" multiple size="4" name="{}" id="{}">{}'
                      "</select>").format(name, ident, _options(target.choices, chosen))
    text = "" if value in (None, "") else str(value)
    if kind == "date":
        return DatePicker()(_Input(ident, name, text))
    if kind == "datetime":
        return DateTimePicker()(_Input(ident, name, _utc_to_local_text(text) if text else ""))
    kind_type = "number" if kind == "number" else "text"
    extra = Markup(' step="any"') if kind == "number" else ""
    return Markup('<input class="form-control" type="{}"{} name="{}" id="{}" value="{}">'
                  ).format(kind_type, extra, name, ident, text)


def _row(field, index: int, entity: str, target, key: str, label: str, condition) -> Markup:
    prefix = f"{field.name}-{index}"
    op = (condition or {}).get("op", NO_FILTER)
    value = (condition or {}).get("value")
    low, high = (list(value) + [None, None])[:2] if op == "between" and isinstance(
        value, list) else (value, None)
    ops = target.ops if target is not None else ((op,) if op else ())
    labels = op_labels()
    op_select = Markup('<select class="form-control crm-filter-op" name="{}-op" id="{}-op" '
                       'aria-label="{}">{}</select>').format(
        prefix, prefix, gettext("Filter"),
        _options([(NO_FILTER, "—"), *[(o, labels.get(o, o)) for o in ops]], [op]))
    ranged = "between" in ops
    lower = _value_input(target, f"{prefix}-value", f"{prefix}-value", low, False)
    upper = _value_input(target, f"{prefix}-value2", f"{prefix}-value2", high, True) \
        if ranged else Markup("")
    return Markup(
        '<tr class="crm-filter-row" data-entity="{entity}" data-used="{used}">'
        '<td><input type="hidden" name="{prefix}-entity" value="{entity}">'
        '<input type="hidden" name="{prefix}-field" value="{key}">'
        '<label for="{prefix}-op">{label}</label></td><td>{op}</td>'
        '<td class="crm-filter-value">{low}</td>'
        '<td class="crm-filter-upper">{to} {upper}</td></tr>').format(
            entity=entity, used="1" if op else "", prefix=prefix, key=key, label=label,
            op=op_select, low=lower,
            to=gettext("to") if ranged and upper else "", upper=upper)


class FilterPickerWidget:
    def __call__(self, field, **kwargs):
        from backoffice.fields.columns import label_of
        from backoffice.fields.views import ENTITY_LABELS
        from models.fields import ENTITIES

        entities = [field.entity] if getattr(field, "entity", None) else list(ENTITIES)
        stored = [c for c in field.data or [] if isinstance(c, dict)]
        rows, index = [], 0
        for entity in entities:
            offered = set_filters.targets(entity)
            if len(entities) > 1:
                rows.append(Markup('<tr class="crm-filter-group" data-entity="{}"><th '
                                   'colspan="4">{}</th></tr>').format(
                                       entity, ENTITY_LABELS.get(entity, entity)))
            mine = stored if len(entities) == 1 or entity == field.stored_entity else []
            known = {t.key for t in offered}
            for target in offered:
                conditions = [c for c in mine if c.get("field") == target.key] or [None]
                for condition in conditions:
                    rows.append(_row(field, index, entity, target, target.key, target.label,
                                     condition))
                    index += 1
            for condition in (c for c in mine if c.get("field") not in known):
                key = str(condition.get("field"))  # a field since archived: kept until cleared
                rows.append(_row(field, index, entity, None, key, label_of(entity, key),
                                 condition))
                index += 1
        head = Markup("<thead><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead>"
                      ).format(gettext("Field"), gettext("Filter"), gettext("Values"))
        attrs = Markup(' data-entity-input="entity"') if len(entities) > 1 else ""
        return _script() + Markup(
            '<div class="crm-filters" id="{ident}"{attrs}>'
            '<table class="table table-condensed crm-filter-table">{head}<tbody>{rows}</tbody>'
            '</table><select class="form-control crm-filter-add" hidden aria-label="{add}">'
            '<option value="">{add}</option></select></div>').format(
                ident=field.id, attrs=attrs, head=head, rows=Markup("").join(rows),
                add=gettext("Add condition"))


class FilterPickerField(Field):
    """Default filters as ``[{"field", "op", "value"}]``, picked row by row."""

    widget = FilterPickerWidget()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entity = None  # set: only that record type's rows (editing)
        self.stored_entity = None  # the record type of the stored filters
        self.foreign = []  # filters posted for another record type than the set's

    def process(self, formdata, data=None, extra_filters=None):
        self.process_errors = []
        self.object_data = data
        self.data = data if isinstance(data, list) else []
        self.raw_data = None
        if formdata is None:
            return
        rows = {}
        prefix = f"{self.name}-"
        for name in formdata:
            if not name.startswith(prefix):
                continue
            number, _, part = name[len(prefix):].partition("-")
            if number.isdigit():
                rows.setdefault(int(number), {})[part] = formdata.getlist(name)
        self.data = []
        self.posted = []
        for number in sorted(rows):
            row = rows[number]
            op = (row.get("op") or [""])[0].strip()
            if not op:
                continue
            self.posted.append({"entity": (row.get("entity") or [""])[0],
                                "field": (row.get("field") or [""])[0], "op": op,
                                "values": row.get("value") or [],
                                "upper": row.get("value2") or []})
        self.raw_data = self.posted

    def resolve(self, entity: str) -> list[str]:
        """The posted rows of ``entity`` as stored filters (``data``); the labels of the
        fields of rows posted for another record type are returned (script hides those)."""
        from models.fields import ENTITIES

        if self.raw_data is None:
            return []
        by_key = {t.key: t for t in set_filters.targets(entity)}
        self.data, foreign = [], []
        for row in self.raw_data:
            if row["entity"] and row["entity"] != entity:
                from backoffice.fields.columns import label_of

                foreign.append(label_of(row["entity"], row["field"]) if row["entity"] in
                               ENTITIES else row["field"])
                continue
            read = read_row(by_key.get(row["field"]), row["op"], row["values"], row["upper"])
            if read is not None:
                self.data.append({"field": row["field"], **read})
        return foreign
