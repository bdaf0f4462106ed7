"""The record events of an import: ``record.created`` for each record a chunk inserts and
``record.changed`` for each it updates, as a screen's save raises them (``backoffice.events``).

Why here and not in the session's flush hook: an import writes with bulk statements (COPY,
multi-row INSERT, ``UPDATE ... FROM``), which no flush sees, and a spreadsheet is the main way
customers arrive, so rules on "customer created/changed" and webhooks subscribed to
``record.*`` would never hear of most customers. The events are:

- written with the chunk's rows, on the batch's session, in the same transaction: an atomic
  batch that rolls back, a skip-bad chunk that never commits, or a killed run leaves no event
  for a row that does not exist; a skip-bad run resumed after its checkpoint does not raise the
  committed chunks' events again (and ``(name, occurrence)`` is unique besides: the occurrence
  is ``import:<batch>:<entity>:<id>``);
- written only for the entities watched (``events.watched()``: customers, accounts and
  interactions while the automation is installed) and only when some consumer wants the event
  now (``events.wanted``, asked once per chunk and event, before anything is built);
- set-based: one ``publish_rows`` per chunk and event, the change data built from the values
  the chunk wrote (no per-row flush, no reading the rows back);
- described like a screen's save (``events.RowChanges``): changed fields with their old and new
  values; an encrypted field (ID number, mobile, e-mail, address, the deep profile), a
  deep-profile or masked field and a sensitive custom field named with ``None``, so no
  sensitive value is ever in an event. The data also names the batch (``import_batch_id``).

A revert (``backoffice.imports.revert``) gives updated records their previous values back: that
is a change of the record like any other (a rule on "risk tolerance became C5" or a webhook
feeding another system must hear that the value went back), so it raises ``record.changed``
for each record it restores, with ``"reverted": true``. It raises nothing for the records it
removes: there is no deletion event, and a removed customer's events go with it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from backoffice import events


def entity_of(model) -> str | None:
    """The watched entity name of ``model`` (None: its records raise no record events)."""
    return events.watched().get(model)


def _occurrence(batch_id: int, entity: str, entity_id: int, suffix: str = "") -> str:
    return f"import:{batch_id}:{entity}:{entity_id}{suffix}"


def _owner_keys(entity: str, entity_id: int, row: Mapping) -> tuple:
    """``(customer_id, branch_id)`` of an event, as the flush hook gives them: a customer is
    its own customer and carries its branch; other records name their customer only."""
    if entity == "customer":
        return entity_id, row.get("branch_id")
    return row.get("customer_id"), None


def column_rows(columns: Mapping[str, list] | None) -> Iterator[dict]:
    """Rows given a column at a time (``ChunkPlan.insert_columns``) as one dict per row, made
    only as they are read: nothing is built for a chunk whose events nobody wants."""
    if not columns:
        return iter(())
    names = list(columns)
    return (dict(zip(names, record)) for record in zip(*columns.values()))


def publish_created(session, model, batch_id: int, ids: list[int],
                    rows: Iterable[Mapping]) -> int:
    """``record.created`` for each new record: ``ids`` and ``rows`` (the values each was
    inserted with, storage form) in the same order. Returns how many were written."""
    entity = entity_of(model)
    if entity is None or not ids or not events.wanted(events.RECORD_CREATED):
        return 0
    describe = events.RowChanges(model, entity)
    items = []
    for entity_id, row in zip(ids, rows):
        customer_id, branch_id = _owner_keys(entity, entity_id, row)
        items.append({"entity": entity, "entity_id": entity_id, "customer_id": customer_id,
                      "branch_id": branch_id,
                      "occurrence": _occurrence(batch_id, entity, entity_id),
                      "data": {"changed": describe(None, row), "import_batch_id": batch_id}})
    return events.publish_rows(session, events.RECORD_CREATED, items)


def publish_changed(session, model, batch_id: int,
                    changes: Iterable[tuple[int, Mapping, Mapping, Mapping]],
                    reverted: bool = False) -> int:
    """``record.changed`` for each updated record: ``(id, before, after, keys)`` each, with
    the changed columns' values before (storage or JSON-safe form) and after, and ``keys``
    holding the record's ``customer_id`` (records of a customer) or ``branch_id`` (a
    customer) as they are after the change. Records whose change shows no field (only
    bookkeeping columns) raise nothing, like a save that changed nothing. ``changes`` may be
    a generator: it is read only when the event is wanted. Returns how many were written."""
    entity = entity_of(model)
    if entity is None or not events.wanted(events.RECORD_CHANGED):
        return 0
    describe = events.RowChanges(model, entity)
    suffix = ":revert" if reverted else ""
    items = []
    for entity_id, before, after, keys in changes:
        changed = describe(before, after)
        if not changed:
            continue
        data = {"changed": changed, "import_batch_id": batch_id}
        if reverted:
            data["reverted"] = True
        customer_id, branch_id = _owner_keys(entity, entity_id, keys)
        items.append({"entity": entity, "entity_id": entity_id, "customer_id": customer_id,
                      "branch_id": branch_id,
                      "occurrence": _occurrence(batch_id, entity, entity_id, suffix),
                      "data": data})
    return events.publish_rows(session, events.RECORD_CHANGED, items)


def model_of(table):
    """The watched model whose table is ``table`` (None: not watched)."""
    return next((model for model in events.watched() if model.__table__ is table), None)
