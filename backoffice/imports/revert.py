"""Reverting a committed batch: created rows removed, updated rows given their previous values.

Only rows nobody touched since the import are reverted. A customer row is untouched when its
``version`` is still the one the import left (every edit through the application bumps it); other
rows when their columns still hold what the import wrote. A created customer that has since
gained accounts, transactions, interactions, follow-ups or change requests, and a created account
with transactions, are in use: removing them would take other people's work with them. Such rows
are conflicts: reported (with the spreadsheet row they came from) and left alone.

Order matters when batches overlap. A row a later batch updated is that batch's to give back
first: reverting the older batch first would either overwrite the later batch's values or leave
the row half undone. So a revert first looks for rows of its batch that a later batch (not
reverted) changed, and if there are any it writes nothing and names them (the row of each file,
the later batch) so the operator reverts the later batch first (:class:`Blocked`). Reverting an
update gives the row its version from before the import too, so the earlier batch then finds
its rows exactly as it left them.

The revert is one transaction: all of the untouched rows go back, or none. The batch is marked
"reverted" only when no row it created is left; a created row that is in use or edited since
stays, is listed with its reason, and the batch stays revertible. The undo data of rows already
given back is dropped with them, so reverting again (after the operator dealt with the rest)
touches only what is left. Revert is offered for ``CRM_IMPORT_REVERT_DAYS`` days (7 by default)
after the commit; a skip-bad batch that stopped part-way (cancelled, interrupted, failed) can be
reverted like a committed one, counted from when it stopped.

Each record given its previous values raises ``record.changed`` (with ``"reverted": true``), in
the revert's transaction, as a screen's edit back to those values would: the consumers that
heard of the import's change hear that it went back. Removed records raise nothing (there is no
deletion event; ``backoffice.imports.record_events``).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import aliased

from backoffice.audit import hooks as audit_hooks
from backoffice.audit import log
from backoffice.errors import WriteRefused
from backoffice import stored_text
from backoffice.imports import record_events, writes
from models import Account, Customer, FollowUp, Interaction, Transaction
from models.base import utcnow
from models.imports import ImportBatch, ImportRowChange
from models.review import ChangeRequest

TABLES = {"customers": Customer.__table__, "accounts": Account.__table__,
          "transactions": Transaction.__table__, "interactions": Interaction.__table__}
CHUNK = 2000  # records reverted per statement
FETCH = 200  # undo rows read per query
MAX_LISTED_CONFLICTS = 1000
MAX_LISTED_ROWS = 20  # rows named in a message (all are in the result)
PARTIAL = ("cancelled", "interrupted", "failed")


class Blocked(WriteRefused):
    """Later batches changed rows of this one: they must be reverted first.

    ``blockers`` maps each later batch id to its rows ``[{"row", "later_row", "id"}]``
    (``row``: the row of this batch's file, ``later_row``: of the later batch's file)."""

    def __init__(self, batch_id: int, blockers: dict[int, list[dict]]):
        self.batch_id, self.blockers = batch_id, blockers
        parts = []
        for later, rows in sorted(blockers.items()):
            listed = ", ".join(f"{r['row']}→{r['later_row']}" for r in rows[:MAX_LISTED_ROWS])
            more = "…" if len(rows) > MAX_LISTED_ROWS else ""
            parts.append(gettext(
                "batch #%(later)s changed %(count)s of its rows since (row of this file → row "
                "of #%(later)s: %(rows)s%(more)s)", later=later, count=len(rows), rows=listed,
                more=more))
        super().__init__({"status": gettext(
            "Batch #%(batch)s was not reverted, nothing was changed: %(parts)s. Reverting it "
            "now would leave those rows as the later batch left them. Revert %(order)s first, "
            "then this batch.", batch=batch_id, parts="; ".join(parts),
            order=", ".join(f"#{b}" for b in sorted(blockers, reverse=True)))})

    def result(self) -> dict:
        return {"batch_id": self.batch_id, "status": "blocked", "message": self.errors["status"],
                "blocked_by": {str(k): v for k, v in sorted(self.blockers.items())},
                "removed": 0, "restored": 0, "conflicts": 0, "conflict_rows": []}


def revert_window() -> dt.timedelta:
    return dt.timedelta(days=float(current_app.config["CRM_IMPORT_REVERT_DAYS"]))


def revertible(batch: ImportBatch) -> bool:
    """Committed, or stopped part-way in skip-bad mode after some chunks were committed (those
    chunks count from when it stopped), and within the revert window."""
    cancelled_with_rows = (batch.status in PARTIAL and batch.mode == "skip_bad"
                           and bool(batch.checkpoint_row))
    since = batch.committed_at or (batch.finished_at if cancelled_with_rows else None)
    return (batch.status == "committed" or cancelled_with_rows) and since is not None \
        and utcnow() - since <= revert_window()


def revert(session, batch_id: int, user_id=None, progress=None) -> dict:
    from models import Staff

    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise LookupError(f"import batch {batch_id} does not exist")
    if batch.status in PARTIAL and batch.committed_at is None:
        batch.committed_at = batch.finished_at
    if not revertible(batch):
        raise WriteRefused({"status": gettext(
            "Only a committed batch can be reverted, within %(days)s days of its commit.",
            days=revert_window().days)})
    blockers = later_changes(session, batch)
    if blockers:
        session.rollback()
        raise Blocked(batch.id, blockers)
    table = TABLES.get(batch.kind)
    kept = None
    if table is None:  # branches, staff, products: their target knows what uses a record
        from backoffice.imports.pipeline import targets

        kept = targets()[batch.kind]
        table = kept.table
    total = (batch.created_count or 0) + (batch.updated_count or 0)  # for the progress bar
    watched = record_events.model_of(table)  # restored records raise record.changed
    reverted, conflicts, listed, done = {"create": 0, "update": 0}, 0, [], 0
    created_left, restored_ids = 0, []
    with audit_hooks.paused(session):
        for entries in _undo_pieces(session, batch_id):
            current = _current_rows(session, table, [e.entity_id for e in entries])
            created = [e.entity_id for e in entries if e.op == "create"]
            in_use = _in_use(session, batch.kind, created) if kept is None else (
                dict.fromkeys(kept.in_use(session, created), "in use") if created else {})
            deletes, restores = [], []
            for entry in entries:
                row = current.get(entry.entity_id)
                if row is None and entry.op == "create":
                    continue  # removed already (by an earlier revert, or deleted since)
                reason = ("deleted" if row is None else "edited"
                          if not _untouched(table, row, entry.after) else in_use.get(
                              entry.entity_id) if entry.op == "create" else None)
                if reason:
                    conflicts += 1
                    created_left += entry.op == "create"
                    if len(listed) < MAX_LISTED_CONFLICTS:
                        listed.append({"row": entry.row_number, "id": entry.entity_id,
                                       "op": entry.op, "reason": reason})
                    continue
                if entry.op == "create":
                    deletes.append(entry.entity_id)
                else:
                    values = {k: writes.from_json(table, k, v) if k != "custom_fields" else v
                              for k, v in (entry.previous or {}).items()}
                    if "version" in (entry.after or {}) and "version" in table.c:
                        # The version from before the import (which added one): an earlier
                        # batch's revert then finds the row as that batch left it.
                        values["version"] = int(entry.after["version"]) - 1
                    restores.append((entry.entity_id, values))
            if deletes and kept is not None:
                kept.before_delete(session, deletes)
            if deletes:
                writes._connection(session).execute(delete(table).where(table.c.id.in_(deletes)))
            if restores:
                now = utcnow()
                writes.update_rows(session, table,
                                   [(i, {**v, **({"updated_at": now} if "updated_at" in table.c
                                                 else {})}) for i, v in restores],
                                   bump_version="version" in table.c and not any(
                                       "version" in v for _, v in restores))
                restored_ids.extend(i for i, _ in restores)
                if watched is not None:
                    record_events.publish_changed(session, watched, batch.id, (
                        (i, {k: current[i][k] for k in v if k in current[i]}, v,
                         {**current[i], **v}) for i, v in restores), reverted=True)
            reverted["create"] += len(deletes)
            reverted["update"] += len(restores)
            done += len(entries)
            if progress is not None:
                progress.update(done, total=total)
        _drop_undo(session, batch_id, restored_ids)
    user = session.get(Staff, user_id) if user_id else None
    left = _left_rows(listed)
    if created_left:  # not done: rows it created are still there
        batch.message = stored_text.keep(_l(
            "Partly reverted: %(removed)s rows removed, %(restored)s rows restored; "
            "%(left)s rows it created are still there (%(rows)s). Remove what uses them (or "
            "accept the edits), then revert again.", removed=reverted["create"],
            restored=reverted["update"], left=created_left, rows=left))
    else:
        batch.status, batch.reverted_at, batch.reverted_by_id = "reverted", utcnow(), user_id
        done_message = _l(
            "Reverted: %(removed)s rows removed, %(restored)s rows restored, %(conflicts)s rows "
            "edited since were left alone.", removed=reverted["create"],
            restored=reverted["update"], conflicts=conflicts)
        batch.message = stored_text.keep(
            done_message, stored_text.joined("", ["(", left, ")"]) if conflicts else None)
    result = {"batch_id": batch.id, "status": batch.status, "removed": reverted["create"],
              "restored": reverted["update"], "conflicts": conflicts,
              "created_left": created_left, "conflict_rows": listed,
              "message": stored_text.show(batch.message)}
    log.record("import_revert", entity="ImportBatch", entity_id=batch.id, actor=user,
               detail={k: v for k, v in result.items() if k != "conflict_rows"})
    session.commit()
    return result


def _left_rows(listed: list[dict]) -> stored_text.Joined:
    """"row 5: edited since, row 9: has accounts, …" for a message (kept in no language)."""
    reasons = {"deleted": _l("deleted since"), "edited": _l("edited since"),
               "accounts": _l("has accounts"), "transactions": _l("has transactions"),
               "interactions": _l("has interactions"),
               "follow-ups": _l("has follow-ups"),
               "change requests": _l("has change requests"),
               "in use": _l("in use by other records")}
    return stored_text.joined(", ", [
        _l("row %(row)s: %(reason)s", row=item["row"],
           reason=reasons.get(item["reason"], item["reason"]))
        for item in listed[:MAX_LISTED_ROWS]], "…" if len(listed) > MAX_LISTED_ROWS else "")


def _drop_undo(session, batch_id: int, restored_ids: list[int]) -> None:
    """Undo rows of updates given back: a later revert of the batch must not apply them twice
    (the row may be edited again since, back at the version the import left)."""
    for start in range(0, len(restored_ids), CHUNK):
        session.execute(delete(ImportRowChange).where(
            ImportRowChange.batch_id == batch_id, ImportRowChange.op == "update",
            ImportRowChange.entity_id.in_(restored_ids[start:start + CHUNK])))


def later_changes(session, batch: ImportBatch) -> dict[int, list[dict]]:
    """Rows of ``batch`` that a batch written after it (and not reverted) updated since:
    later batch id -> ``[{"row", "later_row", "id"}]``. "After" is by undo row: undo rows are
    written as the import writes, so a higher id was written later."""
    mine: dict[int, tuple[int, int | None]] = {}
    for change in session.execute(select(ImportRowChange).where(
            ImportRowChange.batch_id == batch.id)).scalars():
        for entry in writes.undo_entries([change]):
            mine[entry.entity_id] = (change.id, entry.row_number)
    if not mine:
        return {}
    other = aliased(ImportRowChange)
    found: dict[int, list[dict]] = {}
    ids = list(mine)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(other.batch_id, other.entity_id, other.row_number, other.id)
            .join(ImportBatch, ImportBatch.id == other.batch_id)
            .where(ImportBatch.kind == batch.kind, ImportBatch.status != "reverted",
                   other.batch_id != batch.id, other.op == "update",
                   other.entity_id.in_(ids[start:start + CHUNK]))).all()
        for later, entity_id, later_row, change_id in rows:
            own_change, own_row = mine[entity_id]
            if change_id > own_change:
                found.setdefault(later, []).append(
                    {"row": own_row, "later_row": later_row, "id": entity_id})
    for rows in found.values():
        rows.sort(key=lambda r: r["row"] or 0)
    return found


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


def _in_use(session, kind: str, ids: list[int]) -> dict[int, str]:
    """Created rows that other records now hang on: id -> what hangs on it."""
    if not ids:
        return {}
    used: dict[int, str] = {}
    if kind == "customers":
        for model, what in ((Account, "accounts"), (Transaction, "transactions"),
                            (Interaction, "interactions"), (FollowUp, "follow-ups"),
                            (ChangeRequest, "change requests")):
            for customer_id in session.execute(select(model.customer_id).where(
                    model.customer_id.in_(ids)).distinct()).scalars():
                used.setdefault(customer_id, what)
    elif kind == "accounts":
        for account_id in session.execute(select(Transaction.account_id).where(
                Transaction.account_id.in_(ids)).distinct()).scalars():
            used.setdefault(account_id, "transactions")
    return used


__all__ = ["Blocked", "later_changes", "revert", "revertible"]
