"""The log's action and record-type filters as choices by label, not typed codes.

An auditor does not know that "opened the 360 page" is stored as ``view_360``: the filter offers
every action (and record type) by its label in the reader's language, and matches the code
exactly. The choices are the labelled codes plus any code the log holds without a label (a new
feature's action), read with a loose index scan: one index probe per distinct value, so the menu
costs the same on ten rows as on ten million.
"""
from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from wtforms import SelectField

from backoffice.audit import words

# The indexed columns a loose scan may walk (never a column name taken from a request).
_SCANNED = {"action": "action", "entity": "entity"}


def logged_codes(column: str) -> list[str]:
    """The distinct values of ``audit_log.<column>`` (an indexed column), in order."""
    from backoffice.extensions import db

    name = _SCANNED[column]
    query = text(
        f"WITH RECURSIVE codes(code) AS ("  # noqa: S608 - the column comes from _SCANNED
        f" SELECT MIN({name}) FROM audit_log"
        f" UNION ALL"
        f" SELECT (SELECT MIN({name}) FROM audit_log WHERE {name} > codes.code)"
        f" FROM codes WHERE codes.code IS NOT NULL)"
        f" SELECT code FROM codes WHERE code IS NOT NULL")
    return [row[0] for row in db.session.execute(query)]


def _choices(labels: dict, label_of, column: str) -> list[tuple[str, str]]:
    """``[(code, label)]``: the labelled codes and the logged ones, sorted by label."""
    codes = set(labels) | set(logged_codes(column))
    shown = {}
    for code in sorted(codes):  # "Customer" and "customer" share a label: offer it once
        shown.setdefault(label_of(code), code)
    return sorted(((code, label) for label, code in shown.items()), key=lambda c: c[1])


def action_choices() -> list[tuple[str, str]]:
    return _choices(words.ACTION_LABELS, words.action_label, "action")


def entity_choices() -> list[tuple[str, str]]:
    return _choices(words.ENTITY_LABELS, words.entity_label, "entity")


def _same_label_codes(column: str, code: str) -> list[str]:
    """The codes a chosen code stands for (``Customer`` also finds ``customer``)."""
    if column != "entity" or not code:
        return [code]
    label = words.entity_label(code)
    return sorted({c for c in words.ENTITY_LABELS if words.entity_label(c) == label} | {code})


class FilterCodeIs(BaseFilter):
    name = _l("Equal to")
    arg_name = "eq"

    def apply(self, query, value):
        value = (value or "").strip()
        if not value:
            return query
        column = getattr(self.model, self.column_name)
        return query.filter(column.in_(_same_label_codes(self.column_name, value)))


class FilterCodeIsNot(BaseFilter):
    name = _l("Not Equal to")
    arg_name = "neq"

    def apply(self, query, value):
        value = (value or "").strip()
        if not value:
            return query
        column = getattr(self.model, self.column_name)
        codes = _same_label_codes(self.column_name, value)
        return query.filter((column.not_in(codes)) | column.is_(None))


def install(view) -> None:
    """Give the log view's search form the action and record-type selects and their filters."""
    fields = {
        "action": SelectField(_l("Action"), choices=action_choices, validate_choice=False,
                              widget=Select2Widget()),
        "entity": SelectField(_l("Entity"), choices=entity_choices, validate_choice=False,
                              widget=Select2Widget()),
    }
    view.search_form_extra_fields = {**(view.search_form_extra_fields or {}), **fields}
    for column in fields:
        filters = [FilterCodeIs(column, view.datamodel), FilterCodeIsNot(column, view.datamodel)]
        view._filters._search_filters[column] = filters
        view._filters._all_filters[column] = filters
