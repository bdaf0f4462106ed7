"""Admin screens: custom field definitions and field sets (configuration, no customer data).

JSON columns never reach a form as raw JSON (DESIGN pitfall 4): a set's columns are picked by
label (``fields.columns``) and its default filters field by field (``fields.filter_picker``);
a field's choices are typed one per line, parsed by the form field below. A definition is checked
as a whole by ``service.validate_definition`` before anything is saved, with each problem shown
next to its field. Nothing here deletes: there is no delete permission, and
"archive" hides a field or set while its data stays.
"""
from __future__ import annotations

from flask import abort, g, redirect, request
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import (
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    Select2ManyWidget,
    Select2Widget,
)
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from backoffice.datamodel import CrmInterface
from backoffice.errors import WriteRefused
from backoffice.extensions import db
from backoffice.fields import registry, service
from backoffice.fields.columns import ColumnListField
from backoffice.fields.columns import keys_for as column_keys_for
from backoffice.fields import values as v
from backoffice.fields.filter_picker import FilterPickerField, describe
from backoffice.fields.set_filters import check_conditions
from backoffice.formatting import choice_label, local_time, yes_no
from backoffice.views_base import (
    VIEW_METHOD_PERMISSIONS,
    CrmModelView,
    checkboxes,
    selected_items,
)
from backoffice.fields.value_roles import ROLE_LABELS
from models.fields import ENTITIES, FIELD_TYPES, VALUE_ROLES, CustomFieldDefinition, FieldSet

ENTITY_LABELS = {"customer": _l("Customer"), "interaction": _l("Interaction"),
                 "campaign": _l("Campaign"), "account": _l("Account")}
TYPE_LABELS = {
    "text": lazy_pgettext("field type", "Text"), "long_text": _l("Long text"),
    "integer": _l("Whole number"),
    "decimal": _l("Decimal number"), "money": _l("Amount of money"), "date": _l("Date"),
    "datetime": _l("Date and time"), "boolean": _l("Yes/no"), "choice": _l("Single choice"),
    "multi_choice": _l("Multiple choice"), "email": _l("Email address"),
    "mobile": _l("Mobile number"), "prc_id": _l("PRC ID number"), "url": _l("Web address"),
}
STATUS_LABELS = {"active": lazy_pgettext("switched on", "Active"), "archived": _l("Archived")}
PERMISSIONS = {**VIEW_METHOD_PERMISSIONS, "archive_items": "write", "restore_items": "write"}
_CLEAN = "_crm_field_definition_clean"


def _role_choices():
    from config.roles import ROLES

    return [(name, spec["label"]) for name, spec in ROLES.items()]


def _value_role_choices():
    return [(role, ROLE_LABELS[role]) for role in VALUE_ROLES]


def _filled_lines(valuelist) -> list[str]:
    """The non-blank lines a textarea submitted."""
    return [line for line in (valuelist[0] if valuelist else "").splitlines() if line.strip()]


class ChoiceLinesField(TextAreaField):
    """Choices, one per line: ``value | 中文标签 | English label``; the line order is the order."""

    def process_formdata(self, valuelist):
        self.data = []
        for number, line in enumerate(_filled_lines(valuelist), start=1):
            parts = [part.strip() for part in line.split("|")]
            if len(parts) > 3:
                raise ValueError(_l("Line %(n)s: write value | Chinese label | English label.",
                                    n=number))
            parts += [""] * (3 - len(parts))
            self.data.append({"value": parts[0], "label_zh": parts[1], "label_en": parts[2],
                              "order": number})

    def process_data(self, value):
        self.data = value if isinstance(value, list) else []

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        rows = sorted((c for c in self.data or [] if isinstance(c, dict)),
                      key=lambda c: c.get("order") or 0)
        return "\n".join(f"{c.get('value', '')} | {c.get('label_zh', '')} | "
                         f"{c.get('label_en', '')}" for c in rows)


def with_descriptions(fields: dict, descriptions: dict) -> dict:
    """The extra form fields with the view's help texts: FAB gives ``description_columns`` only
    to the inputs it generates, so a hand-made input would show none."""
    described = {}
    for name, unbound in fields.items():
        text = descriptions.get(name)
        if text is not None and not unbound.kwargs.get("description"):
            unbound = unbound.field_class(*unbound.args,
                                          **{**unbound.kwargs, "description": text})
        described[name] = unbound
    return described


def _role_labels(roles) -> str:
    """Role names as their labels in the user's language (not the codes)."""
    from config.roles import ROLES

    return "、".join(str(ROLES[r]["label"]) if r in ROLES else r for r in roles or [])


def _checked_form(form_class, view, editing: bool):
    """The FAB form with the whole-definition check after the per-field ones."""

    class CheckedForm(form_class):
        def validate(self, extra_validators=None):
            if not super().validate(extra_validators=extra_validators):
                return False
            existing = view.datamodel.get((request.view_args or {}).get("pk")) if editing \
                else None
            if editing and existing is None:
                abort(404)
            entity = existing.entity if existing is not None else getattr(
                self._fields.get("entity"), "data", None)
            foreign_filters = []
            for field in self:
                if isinstance(field, (ColumnListField, FilterPickerField)) and \
                        existing is not None:
                    field.entity = existing.entity  # re-shown with that type's columns only
                if isinstance(field, FilterPickerField):
                    field.stored_entity = entity
                    foreign_filters = field.resolve(entity) if entity else []
            data = {name: field.data for name, field in self._fields.items()
                    if name != "csrf_token"}
            clean, errors = view.check(data, existing)
            if foreign_filters and "filters" not in errors:
                errors["filters"] = _l("These filters belong to another record type: "
                                       "%(names)s", names=", ".join(foreign_filters))
            for name, message in errors.items():
                target = self._fields.get(name) or self._fields.get(view.fallback_field)
                target.errors = [*target.errors, str(message)]
            if not errors:
                setattr(g, _CLEAN, (clean, view.before_edit(existing) if existing else None))
            return not errors

    CheckedForm.__name__ = form_class.__name__
    return CheckedForm


class _ArchivingView(CrmModelView):
    """Create, edit and archive; never delete (no delete permission, no delete route)."""

    method_permission_name = PERMISSIONS
    base_permissions = ["can_read", "can_write"]
    fallback_field = "name"

    def _init_forms(self):
        descriptions = self.description_columns or {}
        self.add_form_extra_fields = with_descriptions(self.add_form_extra_fields or {},
                                                       descriptions)
        self.edit_form_extra_fields = with_descriptions(self.edit_form_extra_fields or {},
                                                        descriptions)
        super()._init_forms()
        self.add_form = _checked_form(self.add_form, self, editing=False)
        self.edit_form = _checked_form(self.edit_form, self, editing=True)

    @expose("/delete/<pk>", methods=["GET", "POST"])
    def delete(self, pk):
        abort(404)

    def check(self, data, existing):
        return data, {}

    def before_edit(self, existing):
        """What the save needs to know of the record before the edit (nothing by default)."""
        return None

    def _set_status(self, items, status):
        items = selected_items(items)
        for item in items:
            item.status = status
        db.session.commit()
        registry.invalidate()
        self.update_redirect()
        return redirect(self.get_redirect())

    @action("archive_items", _l("Archive"), _l("Archive the selected items? Their data is "
                                               "kept and they can be restored."), "fa-archive")
    def archive_items(self, items):
        return self._set_status(items, "archived")

    @action("restore_items", _l("Restore"), None, "fa-undo")
    def restore_items(self, items):
        return self._set_status(items, "active")


class CustomFieldView(_ArchivingView):
    datamodel = CrmInterface(CustomFieldDefinition)
    class_permission_name = "CustomField"
    route_base = "/custom-fields"
    list_title = _l("Custom fields")
    show_title = _l("Custom field")
    add_title = _l("Add custom field")
    edit_title = _l("Edit custom field")
    fallback_field = "key"
    label_columns = {
        "entity": _l("Record type"), "key": _l("Key"), "label_zh": _l("Chinese label"),
        "label_en": _l("English label"), "help_text": _l("Help text"), "section": _l("Section"),
        "position": _l("Order"), "field_type": _l("Field type"), "required": _l("Required"),
        "default_text": _l("Default value"), "default_value": _l("Default value"),
        "min_value": _l("Minimum"), "max_value": _l("Maximum"),
        "max_length": _l("Maximum length"), "regex": _l("Pattern (regular expression)"),
        "regex_message": _l("Message when the pattern does not match"),
        "unique": _l("Unique"), "choices": _l("Choices"), "sensitive": _l("Sensitive"),
        "reviewed": _l("Changes need review"), "visible_roles": _l("Roles that see it"),
        "editable_roles": _l("Roles that may edit it"), "status": _l("Status"),
        "value_roles": _l("Counts toward"),
        "created_at": lazy_pgettext("time", "Created"),
        "updated_at": lazy_pgettext("time", "Updated"),
    }
    description_columns = {
        "key": _l("Lowercase letters, digits and underscores; cannot change once records hold "
                  "values."),
        "choices": _l("One choice per line: value | Chinese label | English label."),
        "visible_roles": _l("Empty: every role that sees the record."),
        "editable_roles": _l("Empty: every role that sees the field and may edit the record."),
        "sensitive": _l("Stored encrypted and masked like the built-in sensitive fields."),
        "value_roles": _l("Customer number and money fields only: the amount is added to the "
                          "customer's financial assets or annual volume, which tiers, churn "
                          "value bands and the rule builder use (imported balances, for "
                          "example)."),
    }
    list_columns = ["entity", "key", "label_zh", "label_en", "field_type", "required", "unique",
                    "sensitive", "value_roles", "status"]
    search_columns = ["entity", "key", "label_zh", "label_en", "field_type", "status"]
    _form = ["key", "label_zh", "label_en", "help_text", "section", "position", "field_type",
             "required", "default_text", "min_value", "max_value", "max_length", "regex",
             "regex_message", "unique", "choices", "sensitive", "reviewed", "visible_roles",
             "editable_roles", "value_roles"]
    add_columns = ["entity", *_form]
    edit_columns = list(_form)
    show_columns = ["entity", *[c if c != "default_text" else "default_value" for c in _form],
                    "status", "created_at", "updated_at"]
    add_form_extra_fields = edit_form_extra_fields = {
        "entity": SelectField(_l("Record type"), choices=[(e, ENTITY_LABELS[e]) for e in ENTITIES],
                              validators=[DataRequired()], widget=Select2Widget()),
        "field_type": SelectField(_l("Field type"),
                                  choices=[(t, TYPE_LABELS[t]) for t in FIELD_TYPES],
                                  validators=[DataRequired()], widget=Select2Widget()),
        "default_text": StringField(_l("Default value"), validators=[Optional()],
                                    widget=BS3TextFieldWidget()),
        "choices": ChoiceLinesField(_l("Choices"), widget=BS3TextAreaFieldWidget()),
        "visible_roles": SelectMultipleField(_l("Roles that see it"), choices=_role_choices,
                                             widget=Select2ManyWidget()),
        "editable_roles": SelectMultipleField(_l("Roles that may edit it"),
                                              choices=_role_choices, widget=Select2ManyWidget()),
        "value_roles": SelectMultipleField(_l("Counts toward"), choices=_value_role_choices,
                                           widget=Select2ManyWidget()),
        **checkboxes({"required": _l("Required"), "unique": _l("Unique"),
                      "sensitive": _l("Sensitive"), "reviewed": _l("Changes need review")},
                     "required", "unique", "sensitive", "reviewed"),
    }
    formatters_columns = {
        "entity": choice_label(ENTITY_LABELS), "field_type": choice_label(TYPE_LABELS),
        "status": choice_label(STATUS_LABELS), "required": yes_no, "unique": yes_no,
        "sensitive": yes_no, "reviewed": yes_no, "created_at": local_time,
        "updated_at": local_time,
        "choices": lambda rows: "; ".join(f"{c.get('value')} ({c.get('label_zh')})"
                                          for c in rows or [] if isinstance(c, dict)),
        "visible_roles": _role_labels,
        "editable_roles": _role_labels,
        "value_roles": lambda roles: "、".join(str(ROLE_LABELS.get(r, r)) for r in roles or []),
    }
    base_order = ("entity", "asc")

    def check(self, data, existing):
        return service.validate_definition(data, existing)

    def before_edit(self, existing):
        return registry.spec_of(existing)

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        if item is not None and item.default_value is not None:
            spec = registry.spec_of(item, sensitive=False)
            try:
                form.default_text.data = v.as_raw(spec, v.plain_value(spec, item.default_value))
            except (ValueError, TypeError):
                form.default_text.data = str(item.default_value)

    def _apply_clean(self, item):
        clean, old = g.pop(_CLEAN, (None, None))
        if clean is None:  # not through the checked form
            raise WriteRefused({"_": _l("The form was not checked; nothing was saved.")})
        try:
            service.save(item, clean, old=old)
        except Exception:
            # FAB has already copied the form onto the item: forget it, so that no later
            # commit in this request saves a half-checked definition.
            db.session.rollback()
            raise
        if hasattr(item, "default_text"):
            del item.default_text

    def pre_add(self, item):
        self._apply_clean(item)

    def pre_update(self, item):
        self._apply_clean(item)

    def post_add(self, item):
        self._sync(item)

    def post_update(self, item):
        self._sync(item)

    def _sync(self, item):
        """The field's database indexes (unique, range) as the saved definition asks."""
        registry.invalidate()
        if service.sync_indexes(registry.spec_of(item)):
            db.session.commit()

    def _set_status(self, items, status):
        """Archive or restore, then drop or rebuild the range indexes of the fields."""
        response = super()._set_status(items, status)
        items = selected_items(items)
        synced = [service.sync_indexes(registry.spec_of(item)) for item in items]  # each one
        if any(synced):
            db.session.commit()
        return response


def _any_label(key: str) -> str:
    """A stored column key as a label, whichever record type has it first."""
    from backoffice.fields.columns import column_options

    for entity in ENTITIES:
        label = dict(column_options(entity)).get(key)
        if label:
            return label
    return key


def _sort_choices():
    """The columns to sort by, grouped by record type (the check keeps the set's own)."""
    from backoffice.fields.columns import column_options

    groups = {"": [("", "—")]}
    for entity in ENTITIES:
        groups[str(ENTITY_LABELS[entity])] = column_options(entity)
    return groups


class _Filters(list):
    """A set's stored filters with the set's record type (their fields' labels depend on it)."""

    entity = None


class FieldSetInterface(CrmInterface):
    def _get_attr_value(self, item, col, viewer=None):
        value = super()._get_attr_value(item, col, viewer)
        if col == "filters" and isinstance(value, list):
            value = _Filters(value)
            value.entity = item.entity
        return value


class FieldSetView(_ArchivingView):
    datamodel = FieldSetInterface(FieldSet)
    class_permission_name = "FieldSet"
    route_base = "/field-sets"
    list_title = _l("Field sets")
    show_title = _l("Field set")
    add_title = _l("Add field set")
    edit_title = _l("Edit field set")
    label_columns = {
        "entity": _l("Record type"), "name": _l("Name"), "role": _l("Role"),
        "owner": _l("Owner"), "columns": _l("Columns"), "filters": _l("Default filters"),
        "sort_column": _l("Sort by"), "sort_direction": _l("Sort direction"),
        "status": _l("Status"), "created_at": lazy_pgettext("time", "Created"),
        "updated_at": lazy_pgettext("time", "Updated"),
    }
    description_columns = {
        "columns": _l("The columns the list shows, in this order (its own and custom fields)."),
        "filters": _l("Pick a field, a condition and a value; a condition left at — "
                      "filters nothing."),
        "role": _l("Empty: every role may pick this set."),
        "sort_column": _l("Empty: the list's own order."),
    }
    list_columns = ["entity", "name", "role", "owner", "status"]
    search_columns = ["entity", "name", "status"]
    add_columns = ["entity", "name", "role", "columns", "filters", "sort_column",
                   "sort_direction"]
    edit_columns = ["name", "role", "columns", "filters", "sort_column", "sort_direction"]
    show_columns = ["entity", "name", "role", "owner", "columns", "filters", "sort_column",
                    "sort_direction", "status", "created_at", "updated_at"]
    add_form_extra_fields = edit_form_extra_fields = {
        "entity": SelectField(_l("Record type"), choices=[(e, ENTITY_LABELS[e]) for e in ENTITIES],
                              validators=[DataRequired()], widget=Select2Widget()),
        "columns": ColumnListField(_l("Columns")),
        "filters": FilterPickerField(_l("Default filters")),
        "sort_column": SelectField(_l("Sort by"), choices=_sort_choices, validate_choice=False,
                                   validators=[Optional()], widget=Select2Widget()),
        "sort_direction": SelectField(_l("Sort direction"),
                                      choices=[("asc", _l("Ascending")),
                                               ("desc", _l("Descending"))],
                                      widget=Select2Widget()),
    }
    formatters_columns = {
        "entity": choice_label(ENTITY_LABELS), "status": choice_label(STATUS_LABELS),
        "columns": lambda cols: "、".join(_any_label(c) for c in cols or []),
        "sort_column": lambda key: _any_label(key) if key else "",
        "sort_direction": choice_label({"asc": _l("Ascending"), "desc": _l("Descending")}),
        "role": lambda role: _role_labels([role.name]) if getattr(role, "name", None) else "",
        "filters": lambda rows: describe(getattr(rows, "entity", None), rows),
        "created_at": local_time, "updated_at": local_time,
    }
    base_order = ("entity", "asc")

    def check(self, data, existing):
        entity = data.get("entity") or (existing.entity if existing is not None else None)
        keys, foreign = column_keys_for(entity, data.get("columns") or [])
        data = {**data, "columns": keys}
        data, errors = check_field_set(data, existing)
        if foreign:
            errors["columns"] = _l("These columns belong to another record type: %(names)s",
                                   names=", ".join(foreign))
        return data, errors

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        if item is not None:
            form.columns.entity = item.entity
            form.filters.entity = form.filters.stored_entity = item.entity

    def pre_add(self, item):
        clean, _old = g.pop(_CLEAN, (None, None))
        if clean is not None:
            item.columns = clean["columns"]

    def pre_update(self, item):
        clean, _old = g.pop(_CLEAN, (None, None))
        if clean is not None:
            item.columns = clean["columns"]


def check_field_set(data: dict, existing=None):
    """``(data, errors)``: known columns in order, filters that compile, a known sort column."""
    errors = {}
    entity = data.get("entity") or (existing.entity if existing is not None else None)
    if entity not in ENTITIES:
        return data, {"entity": _l("Choose the kind of record the set belongs to.")}
    if not (data.get("name") or "").strip():
        errors["name"] = _l("A name is required.")
    known = registry.builtin_columns(entity) + [s.key for s in registry.field_catalog(entity)]
    columns = data.get("columns") or []
    unknown = [c for c in columns if c not in known]
    if not columns:
        errors["columns"] = _l("Choose at least one column.")
    elif unknown:
        errors["columns"] = _l("Unknown columns: %(names)s", names=", ".join(unknown))
    elif len(set(columns)) != len(columns):
        errors["columns"] = _l("A column is listed twice.")
    filters = data.get("filters") or []
    if filters and registry.entity_model(entity) is not None:
        problem = check_conditions(entity, filters)
        if problem:
            errors["filters"] = _l("This filter does not fit its field: %(problem)s",
                                   problem=problem)
    sort_column = (data.get("sort_column") or "").strip()
    if sort_column and sort_column not in known:
        errors["sort_column"] = _l("Unknown column: %(name)s", name=sort_column)
    return data, errors
