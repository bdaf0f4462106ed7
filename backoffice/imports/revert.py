"""Reverting a committed batch: created rows removed, updated rows given their previous values.

Only rows nobody touched since the import are reverted. A customer row is untouched when its
``version`` is still the one the import left (every edit through the application bumps it); other
rows when their columns still hold what the import wrote. A created customer that has since
gained accounts, transactions, interactions, follow-ups or change requests, and a created account
with transactions, are in use: removing them would take other people's work with them. Such rows
are conflicts: reported (with the spreadsheet row they came from) and left alone.

The revert is one transaction: all of the untouched rows go back, or none. Revert is offered for
``CRM_IMPORT_REVERT_DAYS`` days (7 by default) after the commit.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete, select

from backoffice.audit import hooks as audit_hooks
from backoffice.audit import log
from backoffice.errors import WriteRefused
from backoffice.imports import writes
from models import Account, Customer, FollowUp, Interaction, Transaction
from models.base import utcnow
from models.imports import ImportBatch, ImportRowChange
from models.review import ChangeRequest

TABLES = {"customers": Customer.__table__, "accounts": Account.__table__,
          "transactions": Transaction.__table__, "interactions": Interaction.__table__}
CHUNK = 2000  # records reverted per statement
FETCH = 200  # undo rows read per query
MAX_LISTED_CONFLICTS = 1000


def revert_window() -> dt.timedelta:
    return dt.timedelta(days=float(current_app.config.get("CRM_IMPORT_REVERT_DAYS", 7)))


def revertible(batch: ImportBatch) -> bool:
    """Committed, or cancelled in skip-bad mode after some chunks were committed (those chunks
    count from the cancellation), and within the revert window."""
    cancelled_with_rows = (batch.status == "cancelled" and batch.mode == "skip_bad"
                           and bool(batch.checkpoint_row))
    since = batch.committed_at or (batch.finished_at if cancelled_with_rows else None)
    return (batch.status == "committed" or cancelled_with_rows) and since is not None \
        and utcnow() - since <= revert_window()


def revert(session, batch_id: int, user_id=None, progress=None) -> dict:
    from models import Staff

    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise LookupError(f"import batch {batch_id} does not exist")
    if batch.status == "cancelled" and batch.committed_at is None:
        batch.committed_at = batch.finished_at
    if not revertible(batch):
        raise WriteRefused({"status": gettext(
            "Only a committed batch can be reverted, within %(days)s days of its commit.",
            days=revert_window().days)})
    table = TABLES[batch.kind]
    total = (batch.created_count or 0) + (batch.updated_count or 0)  # for the progress bar
    reverted, conflicts, listed, done = {"create": 0, "update": 0}, 0, [], 0
    with audit_hooks.paused(session):
        for entries in _undo_pieces(session, batch_id):
            current = _current_rows(session, table, [e.entity_id for e in entries])
            in_use = _in_use(session, batch.kind, [e.entity_id for e in entries
                                                   if e.op == "create"])
            deletes, restores = [], []
            for entry in entries:
                row = current.get(entry.entity_id)
                if row is None or not _untouched(table, row, entry.after) or (
                        entry.op == "create" and entry.entity_id in in_use):
                    conflicts += 1
                    if len(listed) < MAX_LISTED_CONFLICTS:
                        listed.append({"row": entry.row_number, "id": entry.entity_id,
                                       "op": entry.op})
                    continue
                if entry.op == "create":
                    deletes.append(entry.entity_id)
                else:
                    restores.append((entry.entity_id, {
                        k: writes.from_json(table, k, v) if k != "custom_fields" else v
                        for k, v in (entry.previous or {}).items()}))
            if deletes:
                writes._connection(session).execute(delete(table).where(table.c.id.in_(deletes)))
            if restores:
                now = utcnow()
                writes.update_rows(session, table,
                                   [(i, {**v, **({"updated_at": now} if "updated_at" in table.c
                                                 else {})}) for i, v in restores],
                                   bump_version="version" in table.c)
            reverted["create"] += len(deletes)
            reverted["update"] += len(restores)
            done += len(entries)
            if progress is not None:
                progress.update(done, total=total)
    user = session.get(Staff, user_id) if user_id else None
    batch.status, batch.reverted_at, batch.reverted_by_id = "reverted", utcnow(), user_id
    batch.message = gettext(
        "Reverted: %(removed)s rows removed, %(restored)s rows restored, %(conflicts)s rows "
        "edited since were left alone.", removed=reverted["create"],
        restored=reverted["update"], conflicts=conflicts)[:500]
    result = {"batch_id": batch.id, "removed": reverted["create"],
              "restored": reverted["update"], "conflicts": conflicts,
              "conflict_rows": listed}
    log.record("import_revert", entity="ImportBatch", entity_id=batch.id, actor=user,
               detail={k: v for k, v in result.items() if k != "conflict_rows"})
    session.commit()
    return result


def _current_rows(session, table, ids) -> dict:
    rows = session.execute(select(table).where(table.c.id.in_(ids))).mappings().all()
    return {row["id"]: row for row in rows}


def _undo_pieces(session, batch_id: int):
    """The batch's undo entries in pieces of at most ``CHUNK`` records, in the order written.

    Undo rows are read ``FETCH`` at a time: one row holds a whole chunk's created records."""
    last_id, pending = 0, []
    while True:
        changes = session.execute(select(ImportRowChange).where(
            ImportRowChange.batch_id == batch_id, ImportRowChange.id > last_id)
            .order_by(ImportRowChange.id).limit(FETCH)).scalars().all()
        if not changes:
            break
        last_id = changes[-1].id
        pending.extend(writes.undo_entries(changes))
        while len(pending) >= CHUNK:
            yield pending[:CHUNK]
            pending = pending[CHUNK:]
    if pending:
        yield pending


def _untouched(table, row, after: dict) -> bool:
    after = after or {}
    if "version" in after:
        return row["version"] == after["version"]
    return all(writes.to_json(row[column]) == value for column, value in after.items()
               if column in table.c)


def _in_use(session, kind: str, ids: list[int]) -> set[int]:
    """Created rows that other records now hang on."""
    if not ids:
        return set()
    used: set[int] = set()
    if kind == "customers":
        for model in (Account, Transaction, Interaction, FollowUp, ChangeRequest):
            used.update(session.execute(select(model.customer_id).where(
                model.customer_id.in_(ids)).distinct()).scalars())
    elif kind == "accounts":
        used.update(session.execute(select(Transaction.account_id).where(
            Transaction.account_id.in_(ids)).distinct()).scalars())
    return used


__all__ = ["revert", "revertible"]
