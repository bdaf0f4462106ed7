"""Changing a field that already holds data: its type, its choices, or whether it is sensitive.

Every stored value is checked against the new definition before anything is written. If any
value would not convert, the change is refused with how many and which records (so an admin can
fix them first); otherwise every value is rewritten and the definition changed in one
transaction, so no reader ever sees half the records in the old form and half in the new.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from backoffice.errors import WriteRefused
from backoffice.fields import values as v
from backoffice.fields.registry import STORAGE_COLUMN, FieldSpec, entity_model, spec_of

SAMPLE_IDS = 20  # record ids named in a refusal message (the report holds them all)
BATCH = 1000


@dataclass
class ChangeReport:
    """What converting every stored value from one definition to another would do."""

    total: int = 0
    updates: list = field(default_factory=list)  # (id, new document)
    failures: list = field(default_factory=list)  # (id, message)

    @property
    def failed_ids(self) -> list:
        return [record_id for record_id, _ in self.failures]

    @property
    def ok(self) -> bool:
        return not self.failures


class ChangeRefused(WriteRefused):
    """Some stored values would not convert; ``report`` says how many and where."""

    def __init__(self, report: ChangeReport, field_name: str = "field_type"):
        self.report = report
        ids = ", ".join(str(i) for i in report.failed_ids[:SAMPLE_IDS])
        more = "…" if len(report.failures) > SAMPLE_IDS else ""
        super().__init__({field_name: _l(
            "%(count)s of %(total)s stored values would not convert (records %(ids)s%(more)s); "
            "nothing was changed.", count=len(report.failures), total=report.total, ids=ids,
            more=more)})


def needs_conversion(old: FieldSpec, new: FieldSpec) -> bool:
    return (old.type != new.type or old.sensitive != new.sensitive
            or (new.type in ("choice", "multi_choice") and old.choices != new.choices))


def plan(old: FieldSpec, new: FieldSpec, session) -> ChangeReport:
    """Read every record holding a value of the field and convert it in memory."""
    report = ChangeReport()
    model = entity_model(old.entity)
    if model is None:
        return report
    document = getattr(model, STORAGE_COLUMN)
    uid_column = getattr(model, "record_uid", None)
    columns = [model.id, document] + ([uid_column] if uid_column is not None else [])
    # Every record, whoever asks: a conversion must never skip rows outside the admin's scope.
    query = select(*columns).order_by(model.id).execution_options(yield_per=BATCH,
                                                                   crm_unscoped=True)
    for row in session.execute(query):
        stored = (row[1] or {}).get(old.key)
        if stored is None:
            continue
        report.total += 1
        uid = row[2] if uid_column is not None else str(row[0])
        try:
            typed = v.from_storage(old, stored, uid)
        except Exception:  # noqa: BLE001 - a value that does not even read is a failure
            report.failures.append((row[0], "unreadable"))
            continue
        converted, message = v.validate_value(
            _lenient(new), v.as_raw(old, typed) if old.type != new.type else _same(old, typed))
        if message:
            report.failures.append((row[0], str(message)))
            continue
        report.updates.append((row[0], {**row[1], old.key: v.to_storage(new, converted, uid)}))
    return report


def _lenient(spec: FieldSpec) -> FieldSpec:
    """Conversion checks the value's type and choices, not whether it was required."""
    from dataclasses import replace

    return replace(spec, required=False)


def _same(spec: FieldSpec, typed):
    return typed


def convert(old: FieldSpec, new: FieldSpec, session) -> ChangeReport:
    """Check, then rewrite every value in the session's transaction (the caller commits).

    Raises :class:`ChangeRefused` (writing nothing) if any value would not convert.
    """
    report = plan(old, new, session)
    if not report.ok:
        raise ChangeRefused(report, "choices" if old.type == new.type else "field_type")
    model = entity_model(old.entity)
    if model is None or not report.updates:
        return report
    table = model.__table__
    statement = table.update().where(table.c.id == bindparam("_id")).values(
        {STORAGE_COLUMN: bindparam("_doc")})
    if "version" in table.c:
        statement = statement.values(version=table.c.version + 1)  # stale edits then fail
    for start in range(0, len(report.updates), BATCH):
        chunk = report.updates[start:start + BATCH]
        session.execute(statement, [{"_id": i, "_doc": doc} for i, doc in chunk])
    _log(session, old, new, len(report.updates))
    return report


def _log(session, old: FieldSpec, new: FieldSpec, rows: int) -> None:
    """One operation-log row for the conversion (the definition's own change is logged too)."""
    from backoffice.audit import chain, log

    detail = {"field": old.storage_path, "from": old.type, "to": new.type, "rows": rows,
              "sensitive": [old.sensitive, new.sensitive]}
    chain.append(session.connection(), [log.build_row(
        "config_change", entity=old.entity, detail={"op": "convert_custom_field", **detail})])


def change_field(definition, session, **changes) -> ChangeReport:
    """The use case: apply ``changes`` (model attribute -> value) to a definition with data.

    Validates the stored values first; on success converts them and saves the definition in
    one transaction it commits; on failure raises :class:`ChangeRefused` and changes nothing.
    """
    old = spec_of(definition)
    attrs = {"field_type": "type"}
    new = spec_of(definition, **{attrs.get(k, k): v_ for k, v_ in changes.items()
                                 if k in ("field_type", "sensitive")})
    if "choices" in changes:
        from backoffice.fields.registry import Choice

        new = spec_of(definition, type=new.type, sensitive=new.sensitive, choices=tuple(
            Choice(str(c["value"]), str(c.get("label_zh") or c["value"]),
                   str(c.get("label_en") or c.get("label_zh") or c["value"]),
                   int(c.get("order") or 0)) for c in changes["choices"]))
    try:
        report = convert(old, new, session) if needs_conversion(old, new) else ChangeReport()
        for name, value in changes.items():
            setattr(definition, name, value)
        session.flush()
        _sync_indexes(spec_of(definition), session)  # the range index of the new type
        session.commit()
    except Exception:
        session.rollback()
        raise
    return report


def _sync_indexes(spec: FieldSpec, session) -> None:
    from backoffice.fields.service import sync_indexes

    sync_indexes(spec, session)
