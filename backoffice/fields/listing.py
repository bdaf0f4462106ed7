"""List screens with custom fields: columns, field sets (saved views), search filters and sort.

Generic by entity name: a view (or API) of any entity with a ``custom_fields`` column uses the
same functions. Filters arrive as plain query arguments, so that pagination and export links
carry them (FAB copies ``request.args`` into its links):

* ``cf_<key>=value`` equals (a choice: ``a,b`` means any of them; a multiple choice: has it);
* ``cf_<key>__from`` / ``cf_<key>__to`` a range (numbers, money, dates, times);
* ``cf_<key>__contains`` text containing the value.

A filter is a read: a list's count answers "how many records hold a value above X" for any X,
so a filter on a value the user may not read is a binary search on it. Which fields may be
filtered is therefore asked of the field-access policy (``backoffice.security.policy``): only
fields the user reads in full. A field the policy hides from the user's role is refused exactly
like one that does not exist (the message tells nothing); a masked (sensitive) field is stored
sealed and offers no filter at all, not even a prefix or a range, which would spell the value
out digit by digit. Custom fields have no deep-profile group: a field an admin wants kept from
a role is hidden from it by the field's visible roles, and is then unfilterable for that role.
Everything compiles to one SQL condition (``fields.filters``); no row is loaded to be filtered
in Python.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select

from backoffice.fields import set_filters
from backoffice.fields.access import current_roles, visible_specs
from backoffice.fields.display import column_name
from backoffice.fields.filters import FilterError, compile_filter, element, operators_for
from backoffice.fields.registry import (
    CHOICE_TYPES,
    RANGE_TYPES,
    TEXT_TYPES,
    FieldSpec,
    entity_model,
)

ARG_PREFIX = "cf_"
FIELD_SET_ARG = "_fs"
SESSION_KEY = "crm_field_sets"


@dataclass
class ParsedFilters:
    """Conditions read from the request: ``[{"field", "op", "value"}]`` plus refusals."""

    conditions: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    args: dict = field(default_factory=dict)  # the arguments that made them (to carry on)


def filterable_specs(entity: str, roles=None) -> list[FieldSpec]:
    """Fields the user may filter by: shown in full by the policy, and not sensitive (sealed
    values do not compare). ``roles`` given explicitly (no request) checks those roles only."""
    specs = [spec for spec in visible_specs(entity, roles) if operators_for(spec)]
    model = entity_model(entity)
    if roles is not None or model is None:
        return specs
    from backoffice.security import policy

    return [spec for spec in specs
            if policy.read_access(model.__name__, policy.CUSTOM_PREFIX + spec.key)[0]
            is policy.Read.VISIBLE]


def _local_to_utc(spec: FieldSpec, raw: str):
    """A time typed in the display zone as naive UTC text (dates pass unchanged)."""
    if spec.type != "datetime" or not raw:
        return raw
    from zoneinfo import ZoneInfo

    from flask import current_app

    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        return raw
    if moment.tzinfo is None:
        zone = ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")


def parse_filter_args(entity: str, args, roles=None) -> ParsedFilters:
    """The custom-field conditions of a request's arguments (``request.args``)."""
    specs = {spec.key: spec for spec in filterable_specs(entity, roles)}
    parsed = ParsedFilters()
    for name in sorted(args.keys()):
        if not name.startswith(ARG_PREFIX):
            continue
        raw_values = [value for value in args.getlist(name) if value is not None]
        raw = ",".join(value.strip() for value in raw_values if value.strip())
        if not raw:
            continue
        key, _, suffix = name[len(ARG_PREFIX):].partition("__")
        spec = specs.get(key)
        if spec is None:
            parsed.errors.append(str(_l("There is no field %(key)s to filter by.", key=key)))
            continue
        parsed.args[name] = raw
        if suffix == "" and spec.type in CHOICE_TYPES:
            items = [item.strip() for item in raw.split(",") if item.strip()]
            condition = {"field": key, "op": "eq" if len(items) == 1 else "any_of",
                         "value": items[0] if len(items) == 1 else items}
        elif suffix == "":
            condition = {"field": key, "op": "eq", "value": _local_to_utc(spec, raw)}
        elif suffix in ("from", "to") and spec.type in RANGE_TYPES:
            condition = {"field": key, "op": "gte" if suffix == "from" else "lte",
                         "value": _local_to_utc(spec, raw)}
        elif suffix == "contains" and spec.type in TEXT_TYPES:
            condition = {"field": key, "op": "contains", "value": raw}
        else:
            parsed.errors.append(str(_l("%(field)s cannot be filtered that way.",
                                        field=spec.label())))
            continue
        parsed.conditions.append(condition)
    return parsed


def compile_conditions(entity: str, conditions, errors: list, roles=None):
    """One SQL condition for the conditions the user may apply; bad ones are added to
    ``errors`` (with the field's own message) and left out."""
    specs = {spec.key: spec for spec in filterable_specs(entity, roles)}
    parts = []
    builtin = None
    for condition in conditions:
        spec = specs.get(condition.get("field"))
        if spec is None and condition.get("field") not in _custom_keys(entity):
            if builtin is None:  # a set's filter on the record's own column (status, branch)
                builtin = _readable_builtin(entity, roles)
            target = builtin.get(condition.get("field"))
            if target is not None:
                try:
                    parts.append(set_filters.compile_builtin(
                        target, condition.get("op", "eq"), condition.get("value"),
                        entity_model(entity)))
                except (FilterError, TypeError, ValueError) as problem:
                    errors.append(f"{target.label}: {problem}")
                continue
        if spec is None:
            errors.append(str(_l("There is no field %(key)s to filter by.",
                                 key=condition.get("field"))))
            continue
        try:
            parts.append(compile_filter(spec, condition.get("op", "eq"),
                                        condition.get("value")))
        except (FilterError, TypeError, ValueError) as problem:
            errors.append(f"{spec.label()}: {problem}")
    return and_(*parts) if parts else None


def _custom_keys(entity: str) -> set[str]:
    from backoffice.fields.registry import field_catalog

    return {spec.key for spec in field_catalog(entity, include_archived=True)}


def _readable_builtin(entity: str, roles=None) -> dict:
    """The record's own columns a default filter may apply for this user: those the policy
    shows in full (a hidden or masked column is refused like an unknown one). Without a
    request (``roles`` given) none: only custom fields carry their audience with them."""
    if roles is not None:
        return {}
    from backoffice.security import policy

    model = entity_model(entity)
    return {target.key: target for target in set_filters.builtin_targets(entity,
                                                                         with_choices=False)
            if policy.read_access(model.__name__, target.column)[0] is policy.Read.VISIBLE}


def order_expression(entity: str, key: str, direction: str, roles=None):
    """``ORDER BY`` on a custom field the user sees (None if it cannot be sorted by)."""
    spec = next((s for s in filterable_specs(entity, roles) if s.key == key), None)
    model = entity_model(entity)
    if spec is None or model is None or spec.type == "multi_choice":
        return None
    from backoffice.extensions import db

    expr = element(spec, model, db.session.get_bind().dialect.name)
    return expr.desc() if direction == "desc" else expr.asc()


# --- field sets ------------------------------------------------------------------------------


def _user():
    from flask import current_app

    user = current_app.appbuilder.sm.current_user
    return user if user is not None and getattr(user, "is_authenticated", False) else None


@dataclass(frozen=True)
class OfferedSet:
    """A field set as a list offers it: what picking it applies (a copy, never the row)."""

    id: int
    name: str
    owner_id: int | None
    columns: list
    filters: list
    sort_column: str | None
    sort_direction: str


def available_sets(entity: str) -> list[OfferedSet]:
    """The active sets of the entity the user may pick: their roles', everyone's, their own.

    Every list of records with custom fields offers them, on every page, and they change
    seldom: each process keeps them per user while the ``field_set`` table's counter is
    unchanged (``backoffice.config_cache``), and hands out fresh copies (a caller may change
    a set's columns or conditions for its request).
    """
    user = _user()
    if user is None:
        return []
    from backoffice import config_cache

    role_ids = tuple(sorted(role.id for role in user.roles))
    rows = config_cache.cached("field_sets", ("field_set",),
                               lambda: _read_sets(entity, user.id, role_ids),
                               key=(entity, user.id, role_ids))
    return [OfferedSet(id_, name, owner_id, json.loads(columns), json.loads(filters),
                       sort_column, sort_direction)
            for id_, name, owner_id, columns, filters, sort_column, sort_direction in rows]


def _read_sets(entity: str, user_id: int, role_ids: tuple) -> tuple:
    """The sets as immutable rows (the documents as JSON text), in the order they are shown."""
    from backoffice.extensions import db
    from models.fields import FieldSet

    shared = and_(FieldSet.owner_id.is_(None),
                  or_(FieldSet.role_id.is_(None), FieldSet.role_id.in_(role_ids)))
    query = (select(FieldSet)
             .where(FieldSet.entity == entity, FieldSet.status == "active",
                    or_(shared, FieldSet.owner_id == user_id))
             .order_by(FieldSet.owner_id.is_not(None), FieldSet.name, FieldSet.id))
    return tuple((s.id, s.name, s.owner_id, json.dumps(s.columns or []),
                  json.dumps(s.filters or []), s.sort_column, s.sort_direction)
                 for s in db.session.scalars(query))


def chosen_set(entity: str, args):
    """The set picked with ``?_fs=<id>`` (remembered in the session; ``_fs=0`` forgets it)."""
    from flask import session

    remembered = dict(session.get(SESSION_KEY) or {})
    picked = args.get(FIELD_SET_ARG)
    if picked is not None:
        picked = picked if picked.isdigit() else "0"
        if picked == "0":
            remembered.pop(entity, None)
        else:
            remembered[entity] = int(picked)
        session[SESSION_KEY] = remembered
    wanted = remembered.get(entity)
    if not wanted:
        return None
    return next((s for s in available_sets(entity) if s.id == wanted), None)


def set_columns(entity: str, field_set, allowed_builtin, roles=None) -> list[str]:
    """A set's columns as view columns: built-in names the view offers, custom keys the user
    sees (as ``custom_fields.<key>``); anything else in the set is skipped."""
    specs = {spec.key: spec for spec in visible_specs(entity, roles)}
    columns = []
    for name in field_set.columns or []:
        name = _relation_name(entity, name)
        if name in specs:
            columns.append(column_name(specs[name]))
        elif name in allowed_builtin:
            columns.append(name)
    return columns


def _relation_name(entity: str, name: str) -> str:
    """``owner_id`` shown through its relation (``owner``) when the model has one."""
    model = entity_model(entity)
    if model is None or not name.endswith("_id"):
        return name
    relation = name[:-3]
    from sqlalchemy import inspect

    return relation if relation in inspect(model).relationships else name


def save_personal_set(entity: str, name: str, columns: list[str], conditions: list,
                      sort_column: str | None, sort_direction: str):
    """Save the user's own view; ``(field_set, errors)`` (checked like the admin's sets)."""
    from backoffice.extensions import db
    from backoffice.fields.views import check_field_set
    from models.fields import FieldSet

    user = _user()
    roles = current_roles()
    seen = {spec.key for spec in visible_specs(entity, roles)}
    data = {"entity": entity, "name": (name or "").strip(), "columns": columns,
            "filters": conditions, "sort_column": sort_column or None,
            "sort_direction": sort_direction if sort_direction in ("asc", "desc") else "asc"}
    _clean, errors = check_field_set(data)
    hidden = [c for c in columns if c not in seen and _is_custom_key(entity, c)]
    if hidden:
        errors["columns"] = _l("Unknown columns: %(names)s", names=", ".join(hidden))
    if errors or user is None:
        return None, errors
    field_set = FieldSet(owner_id=user.id, **data)
    db.session.add(field_set)
    db.session.commit()
    return field_set, {}


def _is_custom_key(entity: str, key: str) -> bool:
    from backoffice.fields.registry import field_spec

    return field_spec(entity, key, include_archived=True) is not None

