"""Picking a list's columns by their labels: field sets (admin) and saved views (everyone).

A field set stores column *keys* (``name``, ``owner``, a custom field's key) in display order;
people pick them by label, in their language, from a list of checkboxes they can reorder (drag
and drop, or the arrow buttons; without script the order is the list's). The checked boxes are
posted in the list's order, so the order picked is the order stored. Labels come from the
entity's screen (its ``label_columns``, custom fields' own labels included).
"""
from __future__ import annotations

from flask import g, url_for
from flask_babel import gettext
from markupsafe import Markup
from wtforms import Field

from backoffice.fields.registry import builtin_columns, entity_model, field_catalog

ENTITY_SEPARATOR = ":"
_G_SCRIPT = "_crm_columns_script"


def _screen_labels(entity: str) -> dict:
    """The labels the entity's main screen (the first registered view of its model) gives its
    columns; FAB's made-up English ones ("Teller Id") for unlabelled columns are left out (told
    by their type, not their text: in English a real label often reads like the column)."""
    from flask import current_app

    from backoffice.fab_words import made_up

    model = entity_model(entity)
    for view in getattr(current_app.appbuilder, "baseviews", []):
        if getattr(view, "custom_field_entity", None) == entity and \
                getattr(getattr(view, "datamodel", None), "obj", None) is model:
            labels = dict(view.label_columns or {})
            return {name: label for name, label in labels.items() if not made_up(label)}
    return {}


def column_options(entity: str, specs=None) -> list[tuple[str, str]]:
    """``[(key, label)]`` a set of the entity may show: its own columns (a foreign key offered
    through its relation) and custom fields (``specs``: those the user sees; all by default)."""
    labels = _screen_labels(entity)
    names = builtin_columns(entity)
    relations = {name for name in names if f"{name}_id" in names}
    options = []
    for name in names:
        if name == "id" or (name.endswith("_id") and name[:-3] in relations):
            continue
        if name in labels:  # a column without a label of its own is not offered
            options.append((name, str(labels[name])))
    custom = specs if specs is not None else field_catalog(entity)
    suffix = gettext("custom field")
    options += [(spec.key, f"{spec.label()} ({suffix})") for spec in custom]
    return options


def label_of(entity: str, key: str) -> str:
    """A stored column key as its label (the key itself if the entity no longer has it)."""
    if key.endswith("_id"):
        key = key[:-3] if key[:-3] in builtin_columns(entity) else key
    return dict(column_options(entity)).get(key, key)


def _script() -> Markup:
    if g.get(_G_SCRIPT):
        return Markup("")
    g.setdefault(_G_SCRIPT, True)
    from backoffice.security.headers import csp_nonce

    return Markup('<script nonce="{}" src="{}"></script>').format(
        csp_nonce(), url_for("static", filename="crm-columns.js"))


def picker_html(name: str, groups: list[tuple[str, str, list[tuple[str, str]]]],
                chosen: list[str], entity_input: str | None = None,
                input_id: str | None = None) -> Markup:
    """The reorderable checkbox list. ``groups``: ``(entity, title, options)``; with several
    groups a value is ``entity:key`` and script shows the group of the form's ``entity_input``.
    ``chosen`` holds the values checked, in order (listed first)."""
    tagged = len(groups) > 1
    items = []
    for entity, title, options in groups:
        values = {(f"{entity}{ENTITY_SEPARATOR}{key}" if tagged else key): label
                  for key, label in options}
        order = [value for value in chosen if value in values]
        order += [value for value in values if value not in order]
        if tagged:
            items.append(Markup('<li class="crm-columns-group" data-entity="{}"><strong>{}'
                                "</strong></li>").format(entity, title))
        for value in order:
            items.append(Markup(
                '<li class="crm-column" draggable="true" data-entity="{entity}">'
                '<span class="fa fa-arrows-v crm-column-handle" aria-hidden="true"></span> '
                '<label><input type="checkbox" name="{name}" value="{value}"{checked}> '
                "{label}</label>"
                ' <button type="button" class="btn btn-xs btn-link crm-column-up" '
                'title="{up}">&uarr;</button>'
                '<button type="button" class="btn btn-xs btn-link crm-column-down" '
                'title="{down}">&darr;</button></li>').format(
                    entity=entity, name=name, value=value, label=values[value],
                    checked=Markup(" checked") if value in chosen else "",
                    up=gettext("Move up"), down=gettext("Move down")))
    attrs = Markup(' data-entity-input="{}"').format(entity_input) if entity_input else ""
    ident = Markup(' id="{}"').format(input_id) if input_id else ""
    return _script() + Markup(
        '<ul class="list-unstyled crm-columns"{ident}{attrs} style="max-height:22em;'
        'overflow:auto;border:1px solid #ddd;padding:4px 8px;min-width:18em">{items}</ul>'
        '<p class="help-block">{hint}</p>').format(
            ident=ident, attrs=attrs, items=Markup("").join(items),
            hint=gettext("Tick the columns to show; drag them (or use the arrows) into the "
                         "order you want."))


class ColumnPickerWidget:
    def __call__(self, field, **kwargs):
        from backoffice.fields.views import ENTITY_LABELS
        from models.fields import ENTITIES

        entities = [field.entity] if getattr(field, "entity", None) else list(ENTITIES)
        groups = [(entity, str(ENTITY_LABELS.get(entity, entity)), column_options(entity))
                  for entity in entities]
        chosen = list(field.data or [])
        if len(groups) > 1 and not any(ENTITY_SEPARATOR in c for c in chosen):
            chosen = [f"{entity}{ENTITY_SEPARATOR}{c}" for entity in entities for c in chosen]
        return picker_html(field.name, groups, chosen,
                           entity_input="entity" if len(groups) > 1 else None,
                           input_id=field.id)


class ColumnListField(Field):
    """Column keys in display order, picked by label (``entity`` set: only that entity's)."""

    widget = ColumnPickerWidget()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entity = None

    def process_formdata(self, valuelist):
        self.data = [value.strip() for value in valuelist if value and value.strip()]

    def process_data(self, value):
        self.data = value if isinstance(value, list) else []


def keys_for(entity: str, values: list[str]) -> tuple[list[str], list[str]]:
    """``(keys, foreign)``: the posted values as keys of ``entity``; values tagged with another
    record type are returned apart (script hides them, so only a hand-made post has them)."""
    keys, foreign = [], []
    for value in values:
        tag, sep, key = value.partition(ENTITY_SEPARATOR)
        if not sep:
            keys.append(value)
        elif tag == entity:
            keys.append(key)
        else:
            foreign.append(key)
    return keys, foreign
