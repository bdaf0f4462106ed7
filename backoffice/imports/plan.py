"""What a chunk will do to the database, decided before anything is written.

A target (customers, accounts, transactions, interactions) turns validated rows into a
:class:`ChunkPlan`: rows to insert (already in storage form), updates with the values they
replace, unchanged rows, and rejected rows with every problem. The dry run stops at the plan;
the commit applies it. Sample diffs are kept whole in a sealed preview and shown per viewer
through the field-access policy (``backoffice.imports.access``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l

from backoffice.fields import values as field_values
from backoffice.imports import writes
from backoffice.imports.rows import RowResult, row_message

SAMPLE_DIFFS = 20


@dataclass
class Insert:
    row: int
    values: dict | None  # storage form, ready for the INSERT; None: in the plan's columns
    after: dict = field(default_factory=dict)


@dataclass
class Update:
    row: int
    entity_id: int
    values: dict  # storage form of the changed columns
    previous: dict  # the same columns before, JSON-safe
    after: dict
    version: int | None = None  # the version the plan was made against (customers)
    # ``customer_id`` (a customer's record) or ``branch_id`` (a customer) after the change,
    # for its ``record.changed`` event (``backoffice.imports.record_events``).
    keys: dict = field(default_factory=dict)


@dataclass
class ChunkPlan:
    inserts: list[Insert] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[RowResult] = field(default_factory=list)
    diffs: list[dict] = field(default_factory=list)  # samples of updates (raw_diff)
    reviewed: set = field(default_factory=set)  # reviewed fields the updates change
    reviewed_rows: list[dict] = field(default_factory=list)  # every such update (raw_diff)
    # The inserts' storage values a column at a time (name -> one value per insert, in the
    # order of ``inserts``), for a target that builds them so (customers: sealed a column at a
    # time); their ``Insert.values`` are then None.
    insert_columns: dict[str, list] | None = None
    staged: Any = None  # the inserts' write made ready while planning (writes.stage_inserts)

    def reject(self, result: RowResult, column, problem) -> None:
        result.problems.append((column, problem))


@dataclass
class Context:
    """What every target needs for one batch."""

    session: Any
    batch_id: int
    kind: str
    columns: dict  # field key -> header (for messages)
    refs: Any  # ReferenceCache
    custom_specs: dict  # key -> FieldSpec of the mapped custom fields
    all_custom: dict  # key -> FieldSpec of every active field of the entity (defaults)
    default_branch_id: int | None = None
    require_id_number: bool = False
    today: dt.date = field(default_factory=dt.date.today)
    now: dt.datetime | None = None
    reviewed_fields: tuple = ()
    # Commit: ids of the records whose reviewed changes a checker approved (None: no gate,
    # the uploader writes reviewed fields directly); a reviewed change of any other record is
    # rejected with its row.
    approved_reviews: frozenset | None = None
    reads: Any = None  # the session planning reads through (``session`` unless overlapped)

    def __post_init__(self):
        if self.reads is None:
            self.reads = self.session

    def header(self, key: str):
        return self.columns.get(key, key)


def check_custom(ctx: Context, result: RowResult, new: bool) -> dict:
    """The typed custom values of a row (problems added to the row); defaults for new rows."""
    typed: dict = {}
    for key, raw in result.custom.items():
        spec = ctx.custom_specs.get(key)
        if spec is None:
            continue
        value, problem = field_values.validate_value(spec, raw)
        if problem is not None:
            result.problems.append((ctx.header(key), problem))
        elif value is not None:
            typed[key] = value
    if new:
        for key, spec in ctx.all_custom.items():
            if key in typed or key in result.custom:
                continue
            if spec.default is not None:
                typed[key] = field_values.plain_value(spec, spec.default)
            elif spec.required:
                result.problems.append((ctx.header(key), field_values.validate_value(
                    spec, None)[1]))
    return typed


def custom_document(ctx: Context, typed: dict, uid, current: dict | None = None) -> dict:
    """The JSON document with ``typed`` written over ``current`` (sensitive values sealed)."""
    document = dict(current or {})
    for key, value in typed.items():
        spec = ctx.all_custom.get(key) or ctx.custom_specs[key]
        document[key] = field_values.to_storage(spec, value, uid)
    return document


def custom_changes(ctx: Context, typed: dict, current: dict, uid) -> dict:
    """key -> (old typed, new typed) for the custom values that differ from the stored ones."""
    changed = {}
    for key, value in typed.items():
        spec = ctx.all_custom.get(key) or ctx.custom_specs[key]
        stored = current.get(key)
        try:
            old = field_values.from_storage(spec, stored, uid)
        except Exception:  # noqa: BLE001 - unreadable old value: the import replaces it
            old = None
        if _comparable(old) != _comparable(value):
            changed[key] = (old, value)
    return changed


def _comparable(value):
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def raw_diff(row: int, entity: str, entity_id: int, label, changes: dict) -> dict:
    """A change for the dry run's preview: field -> [old, new] as stored text, with the record
    it belongs to. Not masked here: the preview is stored sealed (``models.imports.seal_file``)
    and every value is shown through the policy for whoever looks
    (``backoffice.imports.access.present_preview``)."""
    return {"row": row, "entity": entity, "entity_id": entity_id, "label": _shown(label),
            "fields": {name: [_shown(old), _shown(new)] for name, (old, new) in changes.items()}}


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def messages_of(result: RowResult) -> list[str]:
    """One plain-text message per problem (for the error report)."""
    return [str(row_message(result.row, column, problem)) for column, problem in result.problems]


class UniqueValues:
    """Unique custom fields, checked for a chunk at once (not left to the database to refuse).

    A value held by another record (one query per unique field per chunk, across all records,
    whoever may see them) or by an earlier row of this file is a row problem with the field's
    own message, like ``backoffice.fields.values.validate_record`` gives on a form. Earlier
    rows are remembered by a hash of the value (small for a million rows).
    """

    def __init__(self, ctx: Context, model):
        self.ctx, self.model = ctx, model
        self.specs = [s for s in ctx.custom_specs.values() if s.unique and not s.sensitive]
        self.seen: dict[str, dict[int, int]] = {s.key: {} for s in self.specs}

    def check(self, rows: list, against_database: bool = True) -> None:
        """``rows``: ``(result, typed custom values, id of the record the row updates)``."""
        for spec in self.specs:
            claims = [(result, typed[spec.key], own) for result, typed, own in rows
                      if result.ok and typed.get(spec.key) is not None]
            if not claims:
                continue
            taken = self._taken(spec, {v for _, v, _ in claims}) if against_database else {}
            seen = self.seen[spec.key]
            for result, value, own in claims:
                key = _comparable(value)
                if taken.get(key, set()) - {own}:
                    # Without the value: the report's problems go to approvers and auditors
                    # too, who get the row's values masked.
                    result.problems.append((self.ctx.header(spec.key), _l(
                        "%(field)s: this value is already used by another record.",
                        field=spec.label())))
                    continue
                first = seen.setdefault(hash(key), result.row)
                if first != result.row:
                    result.problems.append((self.ctx.header(spec.key), _l(
                        "Same value as row %(first)s of this file.", first=first)))

    def _taken(self, spec, values: set) -> dict:
        """comparable value -> ids of the records that hold it."""
        from sqlalchemy import bindparam, select

        from backoffice.fields.filters import element

        session = self.ctx.reads
        operands = [v if spec.type in ("decimal", "money", "integer")
                    else field_values.plain_storage(spec, v) for v in values]
        expr = element(spec, self.model, session.get_bind().dialect.name)
        rows = writes.read_by_index(session, select(self.model.id, self.model.custom_fields)
                                    .where(expr.in_(bindparam("crm_values", expanding=True)))
                                    .execution_options(crm_unscoped=True),
                                    {"crm_values": operands}).all()
        taken: dict = {}
        for record_id, document in rows:
            stored = (document or {}).get(spec.key)
            if stored is not None:
                typed = field_values.from_storage(spec, stored)
                taken.setdefault(_comparable(typed), set()).add(record_id)
        return taken
