"""The one typed description of the live custom fields, read by every feature that uses them.

Forms, list columns, filters, the API, exports, imports, segment rules and churn features all ask
:func:`field_catalog` instead of reading ``CustomFieldDefinition`` rows, so they agree on what a
field is. Several processes serve the app and an admin's change must show on the next request in
all of them (DESIGN §2): in a request the catalogue comes from the process's cache
(``backoffice.config_cache``), valid while the definitions' counter, which a trigger bumps on any
write, is unchanged; it is also kept on ``flask.g`` for the request, and dropped as soon as a
definition is written in that request. Outside a request (jobs) it is read on every call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select

ENTITY_TABLES = {"customer": "customer", "interaction": "interaction", "campaign": "campaign",
                 "account": "account"}
STORAGE_COLUMN = "custom_fields"
NUMERIC_TYPES = ("integer", "decimal", "money")
RANGE_TYPES = NUMERIC_TYPES + ("date", "datetime")
TEXT_TYPES = ("text", "long_text", "email", "mobile", "prc_id", "url")
CHOICE_TYPES = ("choice", "multi_choice")
_G_KEY = "_crm_field_catalog"


ENTITY_MODELS = {"customer": "Customer", "interaction": "Interaction", "campaign": "Campaign",
                 "account": "Account"}


def entity_model(entity: str):
    """The mapped class whose ``custom_fields`` column stores the entity's values, or None.

    Looked up by name in ``models`` so that an entity whose table gains the column later
    (campaigns) is picked up without touching this module.
    """
    import models

    model = getattr(models, ENTITY_MODELS.get(entity, ""), None)
    if model is not None and STORAGE_COLUMN in model.__table__.c:
        return model
    return None


def entity_of(record) -> str | None:
    """The custom-field entity name of a record (None if its class has no custom fields)."""
    table = getattr(record, "__tablename__", None)
    for entity, name in ENTITY_TABLES.items():
        if name == table:
            return entity
    return None


@dataclass(frozen=True)
class Choice:
    value: str
    label_zh: str
    label_en: str
    order: int = 0

    def label(self, locale: str | None = None) -> str:
        return _pick(self.label_zh, self.label_en, locale)


@dataclass(frozen=True)
class FieldSpec:
    """A custom field as every feature sees it (immutable: a snapshot of one definition)."""

    id: int | None
    entity: str
    key: str
    type: str
    label_zh: str
    label_en: str
    help_text: str | None = None
    section: str | None = None
    order: int = 0
    required: bool = False
    default: Any = None  # storage form
    min_value: str | None = None
    max_value: str | None = None
    max_length: int | None = None
    regex: str | None = None
    regex_message: str | None = None
    unique: bool = False
    choices: tuple[Choice, ...] = ()
    sensitive: bool = False
    reviewed: bool = False
    visible_roles: tuple[str, ...] = ()
    editable_roles: tuple[str, ...] = ()
    # What the amount counts toward: "assets", "volume" (``backoffice.fields.value_roles``).
    value_roles: tuple[str, ...] = ()
    active: bool = True
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def table(self) -> str:
        return ENTITY_TABLES[self.entity]

    @property
    def storage_path(self) -> str:
        """Where the value lives: ``custom_fields.<key>`` (also the review and audit name)."""
        return f"{STORAGE_COLUMN}.{self.key}"

    def label(self, locale: str | None = None) -> str:
        return _pick(self.label_zh, self.label_en, locale)

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def choice_label(self, value, locale: str | None = None) -> str:
        for choice in self.choices:
            if choice.value == value:
                return choice.label(locale)
        return "" if value is None else str(value)

    def counts_toward(self, role: str) -> bool:
        """Whether the field's amount is part of the customer's ``assets`` or ``volume``."""
        return role in self.value_roles

    def visible_to(self, roles) -> bool:
        """Whether a user holding ``roles`` (names) sees the field (empty list: everyone)."""
        return not self.visible_roles or bool(set(self.visible_roles) & set(roles))

    def editable_by(self, roles) -> bool:
        """Whether a user holding ``roles`` may change it (must also see it)."""
        if not self.visible_to(roles):
            return False
        return not self.editable_roles or bool(set(self.editable_roles) & set(roles))


def _pick(zh: str, en: str, locale: str | None) -> str:
    if locale is None:
        locale = current_locale()
    if str(locale).startswith("zh"):
        return zh or en
    return en or zh


def current_locale() -> str:
    """The request's language (the product's default outside a request)."""
    try:
        from flask_babel import get_locale

        return str(get_locale() or "zh")
    except Exception:  # outside a request: the product's default language
        return "zh"


def spec_of(definition, **overrides) -> FieldSpec:
    """The spec of a ``CustomFieldDefinition`` row (overrides: e.g. a proposed new type)."""
    choices = sorted(
        (Choice(str(c.get("value")), str(c.get("label_zh") or c.get("value")),
                str(c.get("label_en") or c.get("label_zh") or c.get("value")),
                int(c.get("order") or 0))
         for c in (definition.choices or []) if isinstance(c, dict)),
        key=lambda c: (c.order, c.value))
    values = dict(
        id=definition.id, entity=definition.entity, key=definition.key,
        type=definition.field_type, label_zh=definition.label_zh or definition.key,
        label_en=definition.label_en or definition.key, help_text=definition.help_text,
        section=definition.section, order=definition.position or 0,
        required=bool(definition.required), default=definition.default_value,
        min_value=definition.min_value, max_value=definition.max_value,
        max_length=definition.max_length, regex=definition.regex,
        regex_message=definition.regex_message, unique=bool(definition.unique),
        choices=tuple(choices), sensitive=bool(definition.sensitive),
        reviewed=bool(definition.reviewed),
        visible_roles=tuple(definition.visible_roles or ()),
        editable_roles=tuple(definition.editable_roles or ()),
        value_roles=tuple(r for r in (getattr(definition, "value_roles", None) or ())
                          if isinstance(r, str)),
        active=(definition.status or "active") == "active",
    )
    values.update(overrides)
    return FieldSpec(**values)


def field_catalog(entity: str, *, include_archived: bool = False, roles=None,
                  session=None) -> list[FieldSpec]:
    """The entity's fields in display order (section, order, key), from the database.

    ``roles`` (role names) keeps only the fields those roles see; ``include_archived`` adds the
    archived ones (for screens that manage definitions, and for conversions).
    """
    specs = _cached(entity, include_archived, session)
    if roles is not None:
        specs = [s for s in specs if s.visible_to(roles)]
    return list(specs)


def field_spec(entity: str, key: str, *, include_archived: bool = False,
               session=None) -> FieldSpec | None:
    for spec in field_catalog(entity, include_archived=include_archived, session=session):
        if spec.key == key:
            return spec
    return None


def catalog_by_key(entity: str, **kwargs) -> dict[str, FieldSpec]:
    return {spec.key: spec for spec in field_catalog(entity, **kwargs)}


def _load(entity: str, include_archived: bool, session) -> tuple[FieldSpec, ...]:
    from models.fields import CustomFieldDefinition as D

    if session is None:
        from backoffice.extensions import db

        session = db.session
    query = select(D).where(D.entity == entity)
    if not include_archived:
        query = query.where(D.status == "active")
    with session.no_autoflush:  # called mid-write (a form's pending record must not flush)
        rows = session.execute(query.order_by(D.section, D.position, D.key)).scalars().all()
    return tuple(spec_of(row) for row in rows)


def _cached(entity: str, include_archived: bool, session) -> tuple[FieldSpec, ...]:
    from flask import g, has_request_context

    from backoffice import config_cache
    from backoffice.extensions import db

    if not has_request_context() or session is not None and session is not db.session:
        return _load(entity, include_archived, session)
    cache = g.setdefault(_G_KEY, {})
    key = (entity, include_archived)
    if key not in cache:
        cache[key] = config_cache.cached(
            "field_catalog", ("custom_field_definition",),
            lambda: _load(entity, include_archived, None), key=key)
    return cache[key]


def invalidate() -> None:
    """Forget this request's cached catalogue (a definition was just written); the process's
    cache is left to the counter, and this request stores nothing in it any more."""
    from flask import g, has_request_context

    from backoffice import config_cache

    if has_request_context():
        g.pop(_G_KEY, None)
        config_cache.forget_request()


def reviewed_keys(entity: str) -> list[str]:
    """Keys of the entity's active fields whose changes go through maker-checker review."""
    from flask import has_app_context

    if not has_app_context():
        return []
    return [spec.key for spec in field_catalog(entity) if spec.reviewed]


def builtin_columns(entity: str) -> list[str]:
    """The entity's own column names a field set may show (no ciphertext, no JSON, no uid)."""
    from models import crypto

    model = entity_model(entity)
    if model is None:
        return []
    hidden = {STORAGE_COLUMN, "record_uid", "version"}
    storage = crypto.storage_columns(model.__tablename__)
    names = [c.key for c in model.__table__.columns
             if c.key not in hidden and c.key not in storage]
    names += [name for name in crypto.SENSITIVE_FIELDS.get(model.__tablename__, ())
              if name not in names]
    # Many-to-one relations by name (``owner``, ``branch``): how screens show a foreign key.
    from sqlalchemy import inspect

    names += [rel.key for rel in inspect(model).relationships
              if rel.direction.name == "MANYTOONE" and rel.key not in names]
    return names


def _on_definition_write(mapper, connection, target) -> None:
    invalidate()


def install_invalidation() -> None:
    """Drop the request's cached catalogue whenever a definition is inserted or updated."""
    from models.fields import CustomFieldDefinition

    for name in ("after_insert", "after_update", "after_delete"):
        if not event.contains(CustomFieldDefinition, name, _on_definition_write):
            event.listen(CustomFieldDefinition, name, _on_definition_write)
