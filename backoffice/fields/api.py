"""The REST API side of custom fields: ``custom_fields`` read, written, filtered and documented.

Mixed into a ``CrmModelApi`` (before it) with ``custom_field_entity``; the API lists
``custom_fields`` among its columns. Reads go through ``present_row`` like every other value: the
document holds only the fields the caller's role sees, sensitive ones masked. A write sends
``{"custom_fields": {key: value}}`` with only the fields it changes; they are checked with the
field's own messages (422, nothing written), a field the role sees but may not edit is refused,
and one it does not see is refused as unknown. ``?cf_<key>=...`` arguments filter lists exactly
as on the screens. The OpenAPI document describes each field the caller sees, per request.
"""
from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from werkzeug.exceptions import BadRequest

from backoffice.errors import WriteRefused
from backoffice.fields import forms, listing
from backoffice.fields import values as v
from backoffice.fields.access import editable_specs, visible_specs
from backoffice.fields.registry import STORAGE_COLUMN, FieldSpec
from backoffice.fields.screens import _SqlCondition


def json_schema(spec: FieldSpec, *, writable: bool) -> dict:
    """The OpenAPI (3.0) schema of one field's value."""
    schema: dict = {"title": spec.label(), "nullable": not spec.required}
    kind = spec.type
    if kind == "integer":
        schema["type"] = "integer"
    elif kind in ("decimal", "money"):
        schema.update(type="string", format="decimal")
        if kind == "money":
            schema["pattern"] = r"^-?\d+(\.\d{1,2})?$"
    elif kind == "date":
        schema.update(type="string", format="date")
    elif kind == "datetime":
        schema.update(type="string", format="date-time")
    elif kind == "boolean":
        schema["type"] = "boolean"
    elif kind == "choice":
        schema.update(type="string", enum=list(spec.choice_values))
    elif kind == "multi_choice":
        schema.update(type="array", items={"type": "string", "enum": list(spec.choice_values)})
    else:
        schema["type"] = "string"
        if kind == "email":
            schema["format"] = "email"
        elif kind == "url":
            schema["format"] = "uri"
        if spec.max_length:
            schema["maxLength"] = spec.max_length
        if spec.regex:
            schema["pattern"] = spec.regex
    low, high = v.bound(spec, spec.min_value), v.bound(spec, spec.max_value)
    if kind == "integer":
        if low is not None:
            schema["minimum"] = int(low)
        if high is not None:
            schema["maximum"] = int(high)
    elif low is not None or high is not None:
        schema["x-range"] = [spec.min_value, spec.max_value]
    notes = [spec.help_text] if spec.help_text else []
    if spec.sensitive:
        notes.append("Sensitive: stored encrypted, read masked.")
    if spec.required:
        notes.append("Required.")
    if spec.unique:
        notes.append("Unique.")
    if spec.reviewed:
        notes.append("Changes by makers wait for review.")
    if notes:
        schema["description"] = " ".join(notes)
    if not writable:
        schema["readOnly"] = True
    return schema


def document_schema(entity: str) -> dict:
    """The schema of the ``custom_fields`` object for the caller (fields they see)."""
    writable = {spec.key for spec in editable_specs(entity)}
    return {"type": "object", "additionalProperties": False,
            "description": "Admin-defined fields; a write sends only the keys it changes.",
            "properties": {spec.key: json_schema(spec, writable=spec.key in writable)
                           for spec in visible_specs(entity)}}


def check_payload(entity: str, posted, existing=None):
    """``(clean, errors)`` for a posted ``custom_fields`` object (errors keyed by field)."""
    if posted is None:
        return {}, {}
    if not isinstance(posted, dict):
        return {}, {"_": str(_l("custom_fields must be an object of field keys and values."))}
    seen = {spec.key: spec for spec in visible_specs(entity)}
    editable = editable_specs(entity)
    writable = {spec.key for spec in editable}
    errors = {}
    for key in posted:
        if key not in seen:
            errors[key] = str(_l("%(key)s is not a field of this record.", key=key))
        elif key not in writable:
            errors[key] = str(_l("You may not change %(field)s.", field=seen[key].label()))
    wanted = {k: val for k, val in posted.items() if k in writable}
    clean, problems = v.validate_record(entity, wanted, existing=existing, specs=editable)
    errors.update({key: str(message) for key, message in problems.items()})
    return clean, errors


class CustomFieldsApiMixin:
    custom_field_entity: str | None = None

    def _init_model_schemas(self):
        super()._init_model_schemas()
        for schema in (self.add_model_schema, self.edit_model_schema):
            field = getattr(schema, "fields", {}).get(STORAGE_COLUMN)
            if field is not None:
                field.required = False
                field.allow_none = True

    def _posted(self):
        payload = request.get_json(silent=True)
        return payload.get(STORAGE_COLUMN) if isinstance(payload, dict) else None

    def pre_add(self, item):
        super().pre_add(item)
        item.custom_fields = {}
        self._write_custom(item, new=True)

    def pre_update(self, item):
        super().pre_update(item)
        history = sa_inspect(item).attrs[STORAGE_COLUMN].history
        if history.deleted:  # the schema loaded the posted object over the stored one
            item.custom_fields = dict(history.deleted[0] or {})
        self._write_custom(item, new=False)

    def _write_custom(self, item, new: bool):
        entity = self.custom_field_entity
        clean, errors = check_payload(entity, self._posted(), None if new else item)
        if errors:
            raise WriteRefused({f"{STORAGE_COLUMN}.{key}": message
                                for key, message in errors.items()})
        forms.store(item, entity, clean, new=new)

    def _handle_filters_args(self, rison_args):
        joined = super()._handle_filters_args(rison_args)
        parsed = listing.parse_filter_args(self.custom_field_entity, request.args)
        errors = list(parsed.errors)
        condition = listing.compile_conditions(self.custom_field_entity, parsed.conditions,
                                               errors)
        if errors:
            raise BadRequest("; ".join(errors))
        if condition is not None:
            joined.filters.append(_SqlCondition("id", self.datamodel))
            joined.values.append(condition)
        return joined

    def add_apispec_components(self, api_spec):
        super().add_apispec_components(api_spec)
        schema = document_schema(self.custom_field_entity)
        for name in (self.list_model_schema_name, self.show_model_schema_name,
                     self.add_model_schema_name, self.edit_model_schema_name):
            component = api_spec.components.schemas.get(name)
            if isinstance(component, dict) and STORAGE_COLUMN in component.get(
                    "properties", {}):
                component["properties"][STORAGE_COLUMN] = schema
