"""The field-access policy (``backoffice.security.policy``) applied to the import paths.

Three questions, all answered by the policy and nothing else:

* which columns an uploader may map (:func:`mappable`, :func:`refused_columns`): the fields the
  policy lets them write (directly or through review), asked with ``viewer_for(uploader)``;
  asked again when a batch runs, so a mapping saved by a crafted request is refused there too.
  Match keys (a customer file's customer number) find the record and only name a new one;
* what a person sees of the records a batch changes (:func:`present_preview`): every value of
  an existing record goes through ``policy.shown`` for that person and that record (loaded
  without the request's scope, so the policy, not a missing row, decides: an operator, who reads
  no customer, sees "—" for every field of a customer their file matched, name and number
  included); the file's own values are shown back to the uploader as they are (they hold the
  file), to anyone else through the policy as well;
* what an error report shows to whom (:func:`report_for`): the uploader gets it as stored; an
  approver or auditor gets every original value masked, field by field with the policy's mask
  kind for that field (``masking.HIDDEN`` where the field has none, is hidden to them, or the
  column maps to no field).
"""
from __future__ import annotations

import io

from flask_babel import gettext
from sqlalchemy import select

from backoffice.imports.rows import RULES
from backoffice.security import masking, policy

ENTITY = {"customers": "Customer", "accounts": "Account", "transactions": "Transaction",
          "interactions": "Interaction", "branches": "Branch", "staff": "Staff",
          "products": "Product"}
# Reference columns of a file and the field of the record they set.
REFERENCE_FIELDS = {"branch": "branch_id", "owner": "owner_id", "customer": "customer_id",
                    "product": "product_id", "account": "account_id", "staff": "staff_id"}
# Columns that find the record a row updates (and name a new one): never a change of a record.
MATCH_KEYS = {"customers": frozenset({"customer_no"})}


def policy_field(kind: str, key: str) -> str:
    """The policy's name of a mapping key: a built-in field, a reference's field, or
    ``custom_fields.<key>``."""
    if key in RULES.get(kind, {}):
        return REFERENCE_FIELDS.get(key, key)
    return f"{policy.CUSTOM_PREFIX}{key}"


def may_map(kind: str, key: str, viewer) -> bool:
    entity = ENTITY[kind]
    if key in MATCH_KEYS.get(kind, ()):
        # The key is not written to an existing record; whoever may write any field of the
        # entity may name the record by it.
        return any(policy.decide(entity, policy_field(kind, k), None, viewer).may_write
                   for k in RULES[kind] if k not in MATCH_KEYS[kind])
    return policy.decide(entity, policy_field(kind, key), None, viewer).may_write


def mappable(kind: str, keys, viewer) -> list:
    """The subset of ``keys`` the viewer may map (offered on the mapping screen)."""
    return [key for key in keys if may_map(kind, key, viewer)]


def refused_columns(kind: str, mapping: dict, viewer) -> dict:
    """header -> message for every mapped column the viewer may not write."""
    return {header: gettext("You may not write the field %(key)s; it cannot be imported by "
                            "you.", key=key)
            for header, key in (mapping or {}).items() if key and not may_map(kind, key, viewer)}


def reviewed_for(kind: str, viewer) -> tuple:
    """The fields whose change by this viewer waits for a checker (policy: ``reviewed``)."""
    from backoffice.review.service import reviewed_fields

    if kind != "customers":
        return ()
    return tuple(name for name in reviewed_fields()
                 if policy.decide("Customer", name, None, viewer).write is policy.Write.REVIEWED)


# --- what a person sees of a batch's changes -------------------------------------------------


def _records(session, entity: str, ids) -> dict:
    """The records by id, loaded without the request's scope: the policy decides per record."""
    import models

    model = getattr(models, entity)
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    query = select(model).where(model.id.in_(ids)).execution_options(crm_unscoped=True)
    return {record.id: record for record in session.execute(query).scalars()}


def present_preview(session, preview: dict | None, viewer, is_uploader: bool) -> dict:
    """The dry run's sample and reviewed changes as ``viewer`` may see them."""
    preview = preview or {}
    out = {}
    for part in ("diffs", "reviewed_rows"):
        items = preview.get(part) or []
        by_entity: dict = {}
        for item in items:
            by_entity.setdefault(item.get("entity", "Customer"), set()).add(item.get("entity_id"))
        records = {entity: _records(session, entity, ids) for entity, ids in by_entity.items()}
        out[part] = [_present(item, records, viewer, is_uploader) for item in items]
    return out


def _present(item: dict, records: dict, viewer, is_uploader: bool) -> dict:
    entity = item.get("entity", "Customer")
    record = records.get(entity, {}).get(item.get("entity_id"))
    label_field = "customer_no" if entity == "Customer" else "id"
    label = _value(entity, label_field, record, item.get("label"), viewer)
    fields = {}
    for name, (old, new) in (item.get("fields") or {}).items():
        shown_old = _value(entity, name, record, old, viewer)
        shown_new = new if is_uploader else _value(entity, name, record, new, viewer)
        fields[name] = [shown_old, shown_new]
    return {"row": item.get("row"), "record": label, "fields": fields}


def _value(entity: str, name: str, record, value, viewer):
    if record is None:  # gone since the dry run: nothing of it is shown
        return policy.HIDDEN_TEXT
    shown = policy.shown(entity, name, record, value, viewer)
    return "" if shown is None else shown


# --- the error report ------------------------------------------------------------------------


def mask_kind(kind: str, key: str | None, viewer) -> str:
    """How a report column is masked for someone who is not the uploader: the policy's mask
    kind for the field when it has one and the viewer may read the field; else ``secret``
    (``masking.HIDDEN``)."""
    if not key:
        return "secret"
    read, found = policy.read_access(ENTITY[kind], policy_field(kind, key), None, viewer)
    if read is policy.Read.MASKED and found:
        return found
    return "secret"


def report_for(data: bytes, kind: str, mapping: dict, viewer, is_uploader: bool) -> bytes:
    """The stored report as ``viewer`` may have it: as stored for the uploader; otherwise the
    rejected rows' values masked column by column (problems and counts stay)."""
    if is_uploader:
        return data
    from openpyxl import Workbook, load_workbook

    from backoffice.exports import xlsx_cell

    source = load_workbook(io.BytesIO(data), read_only=True)
    try:
        out = Workbook(write_only=True)
        for index, sheet in enumerate(source.worksheets):
            target = out.create_sheet(sheet.title)
            rows = sheet.iter_rows(values_only=True)
            header = list(next(rows, ()) or ())
            target.append([xlsx_cell(target, v) for v in header])
            if index == 0:  # the rejected rows: row number, the file's values, problems
                kinds = [None] + [mask_kind(kind, (mapping or {}).get(h), viewer)
                                  for h in header[1:-1]] + [None]
            else:
                kinds = [None] * len(header)
            for row in rows:
                row = list(row)
                if len(row) != len(header):  # the "more rows are not listed" line
                    kinds_of_row = [None] * len(row)
                else:
                    kinds_of_row = kinds
                target.append([xlsx_cell(target, value if how is None or value in (None, "")
                                         else masking.mask_value(how, value))
                               for value, how in zip(row, kinds_of_row)])
        buffer = io.BytesIO()
        out.save(buffer)
        return buffer.getvalue()
    finally:
        source.close()
