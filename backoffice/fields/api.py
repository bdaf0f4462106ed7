"""The REST API side of custom fields: ``custom_fields`` read, written, filtered and documented.

Mixed into a ``CrmModelApi`` (before it) with ``custom_field_entity``; the API lists
``custom_fields`` among its columns. Reads go through ``present_row`` like every other value: the
document holds only the fields the caller's role sees, sensitive ones masked. A write sends
``{"custom_fields": {key: value}}`` with only the fields it changes; they are checked with the
field's own messages (422, nothing written), a field the role sees but may not edit is refused,
and one it does not see is refused as unknown. ``?cf_<key>=...`` arguments filter lists exactly
as on the screens. The OpenAPI document describes each field the caller sees, per request.

What a write carried is read from the raw request body, never from ``request.json``: FAB's
``put`` merges the stored record into that dictionary before validation (DESIGN pitfall 12), so
read from there every stored value looks posted: a PUT of one field re-checked and re-sealed
every stored custom value (a sensitive one came back sealed twice) and refused a maker for the
fields of other roles the record holds. A PUT here loads only the fields it carried (a partial
load, no merge), each carried field is asked of the policy (``security.policy.decide``) on the
record it would change, and nothing the request did not carry is validated, re-sealed or
refused.
"""
from __future__ import annotations

import json

from flask import g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from werkzeug.exceptions import BadRequest

from backoffice.errors import WriteRefused
from backoffice.fields import forms, listing
from backoffice.fields import values as v
from backoffice.fields.access import editable_specs, visible_specs
from backoffice.fields.registry import ENTITY_MODELS, STORAGE_COLUMN, FieldSpec
from backoffice.fields.screens import _SqlCondition
from backoffice.security import policy


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


def check_payload(entity: str, posted, existing=None, *, model: str | None = None):
    """``(clean, errors)`` for a posted ``custom_fields`` object (errors keyed by field).

    Whether a key may be written is the policy's answer on ``existing`` (None: a new record);
    the message only depends on whether the caller's roles see the field at all: one they do
    not see gets the message of an unknown key, so a refusal confirms nothing about it, one they
    see is refused by its label. Only the posted keys are checked when a record is changed (a
    required field the record lacks is not the caller's doing); a new record is checked whole,
    defaults and required fields included.
    """
    if posted is None:
        return {}, {}
    if not isinstance(posted, dict):
        return {}, {"_": str(_l("custom_fields must be an object of field keys and values."))}
    model = model or ENTITY_MODELS.get(entity, entity)
    seen = {spec.key: spec for spec in visible_specs(entity)}
    editable = {spec.key: spec for spec in editable_specs(entity)}
    errors, writable = {}, {}
    for key in posted:
        decision = policy.decide(model, f"{policy.CUSTOM_PREFIX}{key}", existing)
        if key not in seen:
            errors[key] = str(_l("%(key)s is not a field of this record.", key=key))
        elif key not in editable or not decision.may_write:
            errors[key] = str(_l("You may not change %(field)s.", field=seen[key].label()))
        else:
            writable[key] = editable[key]
    wanted = {k: val for k, val in posted.items() if k in writable}
    specs = list(editable.values()) if existing is None else list(writable.values())
    clean, problems = v.validate_record(entity, wanted, existing=existing, specs=specs)
    errors.update({key: str(message) for key, message in problems.items()})
    return clean, errors


def posted_document():
    """The JSON object the client sent, parsed from the raw body (None if it sent none).

    Not ``request.json``: FAB's ``put`` writes the stored record into that very dictionary.
    """
    if "_crm_posted_document" not in g:
        try:
            payload = json.loads(request.get_data(cache=True, parse_form_data=False) or b"null")
        except (ValueError, UnicodeDecodeError):
            payload = None
        g._crm_posted_document = payload if isinstance(payload, dict) else None
    return g._crm_posted_document


def field_name(model, column: str) -> str:
    """The policy's name of an API column: a relation by its foreign key (``branch`` ->
    ``branch_id``), anything else as it is."""
    relation = sa_inspect(model).relationships.get(column)
    if relation is not None and len(relation.local_columns) == 1:
        return next(iter(relation.local_columns)).key
    return column


def builtin_refusals(model, columns, record=None, labels=None) -> dict:
    """``{column: message}`` for each built-in column a write carries that the policy does not
    let the caller write on ``record``. Built-in columns are public (the OpenAPI document lists
    them), so the message names the column whether or not the caller may read it."""
    labels = labels or {}
    errors = {}
    for column in columns:
        if not policy.decide(model.__name__, field_name(model, column), record).may_write:
            errors[column] = str(_l("You may not change %(field)s.",
                                    field=labels.get(column, column)))
    return errors


class CustomFieldsApiMixin:
    custom_field_entity: str | None = None

    def _init_model_schemas(self):
        super()._init_model_schemas()
        for schema in (self.add_model_schema, self.edit_model_schema):
            field = getattr(schema, "fields", {}).get(STORAGE_COLUMN)
            if field is not None:
                field.required = False
                field.allow_none = True
        # A PUT loads what it carried and nothing else (see ``_merge_update_item``).
        self.edit_model_schema.partial = True

    def _merge_update_item(self, model_item, data):
        """FAB turns a PUT into a PATCH by copying every stored value into the posted data,
        which then validates and re-writes all of them; the partial edit schema needs none of
        it: only what the client sent is loaded."""
        posted = posted_document()
        if posted is None:
            raise WriteRefused({"_": _l("The request body must be a JSON object of fields and "
                                        "values.")})
        return dict(posted)

    def _posted(self):
        payload = posted_document()
        return payload.get(STORAGE_COLUMN) if payload is not None else None

    def carried_columns(self) -> list[str]:
        """The built-in columns the request carried (custom fields apart)."""
        return [key for key in (posted_document() or {}) if key != STORAGE_COLUMN]

    def carried_fields(self) -> set[str]:
        """The same by the model's names (a relation by its key: ``branch_id``)."""
        return {field_name(self.datamodel.obj, column) for column in self.carried_columns()}

    @property
    def policy_entity(self) -> str:
        return self.datamodel.obj.__name__

    def pre_add(self, item):
        self._refuse_unwritable(None)
        super().pre_add(item)
        item.custom_fields = {}
        self._write_custom(item, new=True)

    def pre_update(self, item):
        # The custom values before the scope check: an update flushes nothing, and a write the
        # writer's scope refuses may still become a change request holding the whole edit.
        self._refuse_unwritable(item)
        self.write_custom_fields(item)
        super().pre_update(item)

    def write_custom_fields(self, item):
        """Store the custom values an update carried over the stored document."""
        history = sa_inspect(item).attrs[STORAGE_COLUMN].history
        if history.deleted:  # the schema loaded the posted object over the stored one
            item.custom_fields = dict(history.deleted[0] or {})
        self._write_custom(item, new=False)

    def _refuse_unwritable(self, record):
        """Refuse (422, by field) a built-in column the caller may not write on ``record``."""
        errors = builtin_refusals(self.datamodel.obj, self.carried_columns(), record,
                                  self.label_columns)
        if errors:
            raise WriteRefused(errors)

    def _write_custom(self, item, new: bool):
        entity = self.custom_field_entity
        clean, errors = check_payload(entity, self._posted(), None if new else item,
                                      model=self.policy_entity)
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
