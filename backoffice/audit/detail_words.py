"""The words of one logged record type: its fields' labels and its coded values' labels.

A log row about a customer keeps ``{"changes": {"status": {"before": "active", ...}}}``: codes,
hashed as written. The reader sees the field as the customer screen labels it and the status as
that screen shows it, in the reader's language. Both come from where the screens take them, so a
new field or status needs no entry here:

* built-in fields: the registered screens of the record's model, their ``label_columns`` (not
  FAB's made-up English) and the code-to-label maps of their ``choice_label`` formatters;
* custom fields: the field catalogue (archived fields included: old rows name them), with each
  field's choice labels, yes/no and times;
* times: the model's date-time columns, logged as ISO text in UTC, shown in the display zone.

Only labels are looked up: what the reader may see of each value was decided before
(``policy.log_detail_shown``), and a value that is not a known code stays as it is.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app, g, has_app_context
from flask_babel import gettext

from backoffice.fab_words import made_up

_G_KEY = "_crm_log_vocabularies"
CUSTOM_PREFIX = "custom_fields."
# Coded values of record types whose screens are no model views (a feature adds its own at
# registration: ``CODED_VALUES["Webhook"] = {"events": mapping}``): logged key -> {code: label}.
CODED_VALUES: dict[str, dict] = {}


@dataclass
class Vocabulary:
    labels: dict = field(default_factory=dict)  # column -> label (lazy)
    codes: dict = field(default_factory=dict)  # column -> {code: label}
    times: frozenset = frozenset()  # date-time columns (logged as naive-UTC ISO text)
    custom: dict = field(default_factory=dict)  # custom key -> FieldSpec

    def label(self, key: str) -> str | None:
        """The label of a logged field name (``custom_fields.<key>``, ``owner_id`` too)."""
        if key.startswith(CUSTOM_PREFIX) and key[len(CUSTOM_PREFIX):] in self.custom:
            return self.custom[key[len(CUSTOM_PREFIX):]].label()
        for name in (key, key[:-3] if key.endswith("_id") else None):
            if name and name in self.labels:
                return str(self.labels[name])
        return None

    def value(self, key: str, value):
        """A logged value of ``key`` as its label (None: nothing known about it)."""
        spec = self.custom.get(key[len(CUSTOM_PREFIX):]) if key.startswith(CUSTOM_PREFIX) \
            else None
        if spec is not None:
            return custom_text(spec, value)
        mapping = self.codes.get(key)
        if mapping is not None and isinstance(value, str) and value in mapping:
            return str(mapping[value])
        if key in self.times and isinstance(value, str):
            return local_text(value)
        return None


def local_text(text: str) -> str | None:
    """An ISO time logged in UTC as the display zone shows it (None if it is no time)."""
    from backoffice.formatting import local_time

    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return local_time(moment)


def custom_text(spec, value):
    """A custom field's logged (storage-form) value in words; masked text stays as it is."""
    from backoffice.formatting import yes_no

    if value is None or value == "":
        return "—"
    if spec.type == "choice" and isinstance(value, str):
        return spec.choice_label(value)
    if spec.type == "multi_choice" and isinstance(value, list):
        return "、".join(spec.choice_label(item) for item in value) or "—"
    if spec.type == "boolean" and isinstance(value, bool):
        return yes_no(value)
    if spec.type == "datetime" and isinstance(value, str):
        return local_text(value) or value
    return None


def _model_named(entity: str):
    """The model class a log's entity code names (``Customer``, ``customer``, ``CustomField``)."""
    from backoffice.fields.registry import ENTITY_MODELS

    wanted = {entity, ENTITY_MODELS.get(entity.lower(), entity)}
    if entity == "CustomField":
        wanted.add("CustomFieldDefinition")
    for view in getattr(current_app.appbuilder, "baseviews", []):
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if isinstance(model, type) and model.__name__ in wanted:
            return model
    return None


def _build(entity: str) -> Vocabulary:
    from sqlalchemy import DateTime

    from backoffice.fields.registry import ENTITY_MODELS, field_catalog

    model = _model_named(entity)
    if model is None:
        return Vocabulary(codes=dict(CODED_VALUES.get(entity, {})))
    labels, codes = {}, dict(CODED_VALUES.get(entity, {}))
    for view in current_app.appbuilder.baseviews:
        if getattr(getattr(view, "datamodel", None), "obj", None) is not model:
            continue
        for name, label in (getattr(view, "label_columns", None) or {}).items():
            if not made_up(label):
                labels.setdefault(name, label)
        for name, formatter in dict(getattr(view, "formatters_columns", None) or {}).items():
            mapping = getattr(formatter, "labels", None)
            if isinstance(mapping, dict):
                codes.setdefault(name, mapping)
    table = getattr(model, "__table__", None)
    times = frozenset(c.key for c in table.columns if isinstance(c.type, DateTime)) \
        if table is not None else frozenset()
    fields_entity = next((e for e, name in ENTITY_MODELS.items() if name == model.__name__),
                         None)
    custom = {spec.key: spec for spec in field_catalog(fields_entity, include_archived=True)} \
        if fields_entity else {}
    return Vocabulary(labels=labels, codes=codes, times=times, custom=custom)


def vocabulary(entity) -> Vocabulary:
    """The words of the record type ``entity`` (empty outside an app or for an unknown type)."""
    if not entity or not has_app_context():
        return Vocabulary()
    cache = g.setdefault(_G_KEY, {})
    if entity not in cache:
        cache[entity] = _build(str(entity))
    return cache[entity]


def changed_word() -> str:
    return gettext("Changed")
