"""Add and edit forms with the custom fields, built per request from the registry.

FAB builds a view's forms once, at start-up; an admin's new field must appear on the next
request, in every process (DESIGN pitfall 4). So the view keeps FAB's form as a base and
:func:`with_custom_fields` derives a class from it on each request holding one input per field
the user may edit (``cf_<key>``): never the raw JSON column. The inputs do not write to the
record themselves; the derived form's ``validate`` runs ``values.validate_record`` (the field's
own messages: required, pattern, range, unique, choice) and keeps the typed values for the view
to store in ``pre_add``/``pre_update``. A form with an error writes nothing.

The edit form also shows the fields the user's role sees but may not change, read-only (as the
show page presents them: masked when sensitive); a submitted value that differs from what the
record holds is refused with the field's name, never silently dropped or written.
"""
from __future__ import annotations

import datetime as dt

from flask import g
from flask_appbuilder.fieldwidgets import (
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    Select2ManyWidget,
    Select2Widget,
)
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField

from backoffice.fields import values as v
from backoffice.fields.access import editable_specs, visible_specs
from backoffice.fields.display import shown, typed_value
from backoffice.fields.registry import FieldSpec, field_catalog
from backoffice.pickers import DatePicker, DateTimePicker

FIELD_PREFIX = "cf_"
_G_CLEAN = "_crm_custom_clean"


def form_field_name(spec: FieldSpec) -> str:
    return f"{FIELD_PREFIX}{spec.key}"


class _CustomInput:
    """Custom inputs never write to the record themselves (``pre_add``/``pre_update`` do)."""

    def populate_obj(self, obj, name):
        return None


class CustomText(_CustomInput, StringField):
    pass


class CustomTextArea(_CustomInput, TextAreaField):
    pass


class CustomSelect(_CustomInput, SelectField):
    pass


class CustomMultiSelect(_CustomInput, SelectMultipleField):
    pass


class CustomDateTime(_CustomInput, StringField):
    """A custom date-time: the calendar and the time select (``pickers``), text in the display
    zone joined from the two inputs; the record check (``values``) reads and converts it."""

    widget = DateTimePicker()

    def process_formdata(self, valuelist):
        parts = [(value or "").strip() for value in valuelist]
        self.raw_data = [" ".join(part for part in parts if part)]
        self.data = self.raw_data[0]
        if len(parts) >= 2 and parts[0] and not parts[1]:
            raise ValueError(str(_l("Choose a time as well as the day.")))
        if len(parts) >= 2 and parts[1] and not parts[0]:
            raise ValueError(str(_l("Choose a day as well as the time.")))

    def local_parts(self) -> tuple[str, str]:
        day, _, time = (self._value() or "").strip().partition(" ")
        return day, time[:5]


class CustomReadOnly(_CustomInput, StringField):
    """A field the user sees but may not change: shown disabled (a browser does not send it),
    holding what the show page shows, whatever a request posted."""

    widget = BS3TextFieldWidget()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {"disabled": True, "readonly": True})
        super().__init__(*args, **kwargs)
        self.shown_text = ""

    def _value(self):
        return self.shown_text

    def submitted_change(self) -> bool:
        """Whether the request posted a value other than the one shown."""
        posted = (self.raw_data or [""])[0]
        return bool(posted and posted.strip()) and posted.strip() != self.shown_text


class CustomSensitive(_CustomInput, StringField):
    """A sealed value is never sent back to the browser: blank keeps it, text replaces it."""

    widget = BS3TextFieldWidget()

    def _value(self):
        return self.raw_data[0] if self.raw_data else ""


def build_field(spec: FieldSpec, editing: bool):
    """The unbound WTForms input of one field (no validators: the record check gives the
    field's own messages)."""
    label = spec.label()
    description = spec.help_text or ""
    if spec.sensitive and editing:
        keep = str(_l("Leave empty to keep the current value."))
        return CustomSensitive(label, description=f"{description} {keep}".strip())
    if spec.type in ("choice", "boolean"):
        choices = ([("true", str(_l("Yes"))), ("false", str(_l("No")))]
                   if spec.type == "boolean"
                   else [(c.value, c.label()) for c in spec.choices])
        return CustomSelect(label, choices=[("", "—"), *choices], validate_choice=False,
                            description=description, widget=Select2Widget())
    if spec.type == "multi_choice":
        return CustomMultiSelect(label, choices=[(c.value, c.label()) for c in spec.choices],
                                 validate_choice=False, description=description,
                                 widget=Select2ManyWidget())
    if spec.type == "long_text":
        return CustomTextArea(label, description=description, widget=BS3TextAreaFieldWidget())
    if spec.type == "date":
        return CustomText(label, description=description, widget=DatePicker())
    if spec.type == "datetime":
        return CustomDateTime(label, description=description)
    return CustomText(label, description=description, widget=BS3TextFieldWidget())


def form_text(spec: FieldSpec, typed):
    """A typed value as the input shows it (times in the display zone)."""
    if typed is None:
        return None
    if spec.type == "datetime":
        from backoffice.formatting import local_time

        return local_time(typed)
    if spec.type == "boolean":
        return "true" if typed else "false"
    return v.as_raw(spec, typed)


def submitted_value(spec: FieldSpec, data):
    """What the input holds, as ``validate_value`` reads it (times converted to UTC)."""
    if spec.type == "datetime" and isinstance(data, str) and data.strip():
        from zoneinfo import ZoneInfo

        from flask import current_app

        try:
            moment = dt.datetime.fromisoformat(data.strip())
        except ValueError:
            return data
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"]))
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    return data


def with_custom_fields(base_form, entity: str, *, editing: bool, load_record=None):
    """A subclass of ``base_form`` with an input per field the user may edit.

    ``load_record()`` returns the record being edited (None when adding); the check of unique
    values excludes it and the "required" rule accepts what it already holds.
    """
    specs = editable_specs(entity)
    read_only = read_only_specs(entity) if editing else []
    if not specs and not read_only:
        return base_form
    attrs = {form_field_name(spec): build_field(spec, editing) for spec in specs}
    attrs.update({form_field_name(spec): CustomReadOnly(
        spec.label(), description=str(_l("You may see this field but not change it.")))
        for spec in read_only})

    def validate(self, extra_validators=None):
        valid = base_form.validate(self, extra_validators=extra_validators)
        record = load_record() if (editing and load_record is not None) else None
        refused = _refuse_read_only_changes(self, read_only, record)
        raw = {}
        for spec in specs:
            field = self._fields.get(form_field_name(spec))
            if field is None:
                continue
            if spec.sensitive and editing and v.is_empty(field.data):
                continue  # left blank: keep the sealed value
            raw[spec.key] = submitted_value(spec, field.data)
        clean, errors = v.validate_record(entity, raw, existing=record, specs=specs)
        for key, message in errors.items():
            field = self._fields.get(f"{FIELD_PREFIX}{key}")
            if field is not None:
                field.errors = [*field.errors, str(message)]
        if valid and not errors and not refused:
            g.setdefault(_G_CLEAN, {})[entity] = clean
        return valid and not errors and not refused

    attrs["validate"] = validate
    attrs["custom_field_names"] = [form_field_name(spec) for spec in specs]
    attrs["read_only_field_names"] = [form_field_name(spec) for spec in read_only]
    return type(base_form.__name__, (base_form,), attrs)


def read_only_specs(entity: str, roles=None) -> list[FieldSpec]:
    """The fields the user (or ``roles``) sees but may not edit, in display order."""
    editable = {spec.key for spec in editable_specs(entity, roles)}
    return [spec for spec in visible_specs(entity, roles) if spec.key not in editable]


def _refuse_read_only_changes(form, specs, record) -> bool:
    """Show the record's values in the read-only inputs; flag any the request tried to change
    (True if one did). Nothing of theirs is ever written: they are not among the checked
    values the view stores."""
    refused = False
    for spec in specs:
        field = form._fields.get(form_field_name(spec))
        if field is None:
            continue
        field.shown_text = shown(record, spec) if record is not None else ""
        if field.submitted_change():
            field.errors = [*field.errors, str(_l("You may not change %(field)s.",
                                                  field=spec.label()))]
            refused = True
    return refused


def prefill(form, record, entity: str) -> None:
    """Show the record's current values in the edit form (sensitive ones stay blank; read-only
    ones as the show page presents them)."""
    for spec in read_only_specs(entity):
        field = form._fields.get(form_field_name(spec))
        if isinstance(field, CustomReadOnly):
            field.shown_text = shown(record, spec)
    for spec in editable_specs(entity):
        field = form._fields.get(form_field_name(spec))
        if field is None or spec.sensitive:
            continue
        typed = typed_value(record, spec)
        if isinstance(typed, str) and typed == "******":
            continue
        field.data = form_text(spec, typed)


def take_checked_values(entity: str) -> dict | None:
    """The typed values the form's check accepted in this request (None if no form ran)."""
    return g.get(_G_CLEAN, {}).pop(entity, None)


def store(record, entity: str, clean: dict, *, new: bool) -> None:
    """Write checked values into the record; a new record also gets the defaults of the fields
    the user could not fill in (fields of other roles)."""
    catalog = field_catalog(entity, include_archived=True)
    values = dict(clean)
    if new:
        for spec in field_catalog(entity):
            if spec.key not in values and spec.default is not None:
                values[spec.key] = v.plain_value(spec, spec.default)
    if not values:
        if record.custom_fields is None:
            record.custom_fields = {}
        return
    _ensure_identity(record, catalog, values)
    v.apply_values(record, values, specs=catalog)


def _ensure_identity(record, catalog, values) -> None:
    """A sensitive value is sealed to its row; a table without ``record_uid`` binds it to the
    id, which a new record only has once flushed."""
    sensitive = {spec.key for spec in catalog if spec.sensitive}
    if not sensitive & {k for k, val in values.items() if val is not None}:
        return
    if v.record_uid(record) is None:
        from backoffice.extensions import db

        if record.custom_fields is None:
            record.custom_fields = {}
        db.session.add(record)
        db.session.flush()
