"""Re-sealing the chain: redact stored rows and re-hash them under the chain key.

For upgrades of logs written before the log redacted by shape and keyed its hashes (migration
``0021_audit_pii``): every row is redacted as ``log.build_row`` redacts new rows, and the chain
is re-hashed from its first row on (a keyed hash differs from the plain one on every row), the
head and the recorded hash of every not yet purged archive following. The old chain is verified
first, accepting a row sealed either the old way or already with the key (rows written by new
code before the migration ran): a log that does not verify is refused, because re-sealing would
hide the tampering.

Archive files already written keep their old hashes and values: they lie outside the database
(``ResealReport.archives`` names the archives whose recorded last hash moved, so that their
files can be replaced by fresh archives or destroyed under the bank's retention rules).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, text

from backoffice.audit import chain, redact
from backoffice.audit.log import MAX_TEXT

BATCH = 2000
TEXT_COLUMNS = redact.TEXT_COLUMNS


class ResealError(Exception):
    """The log was not re-sealed (it does not verify as it stands); nothing was changed."""


@dataclass
class ResealReport:
    rows: int = 0
    masked: int = 0
    resealed_from: int | None = None
    archives: list = field(default_factory=list)


def accepting(*hashers: Callable) -> Callable:
    """A row hash for ``chain.verify`` that accepts a row sealed by any of ``hashers``."""

    def hash_row(row_id, row, prev_hash):
        computed = None
        for hasher in hashers:
            computed = hasher(row_id, row, prev_hash)
            if computed == row["row_hash"]:
                return computed
        return computed

    return hash_row


def reseal(connection, seal: Callable, old_hashers: tuple, custom_kinds: dict | None = None,
           redact_rows: bool = True) -> ResealReport:
    """Redact (optionally) and re-hash every live row with ``seal`` (``chain.hasher(key)``), in
    the caller's transaction.

    ``old_hashers`` are the ways a row may have been sealed so far; the chain must verify with
    them (any of them per row) or nothing is done.
    """
    checked = chain.verify(connection, hash_row=accepting(*old_hashers))
    if not checked.ok:
        raise ResealError(f"the operation log does not verify at row {checked.bad_id} "
                          f"({checked.reason}); re-sealing would hide that. Investigate with "
                          f"`flask crm audit verify` before upgrading")
    report = ResealReport()
    if not checked.count:
        return report
    chain.lock_head(connection)
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:  # the append-only trigger, lifted for this transaction's rewrite only
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
    table = chain.log_table
    columns = [table.c.id, *(table.c[name] for name in chain.FIELDS), table.c.prev_hash,
               table.c.row_hash]
    statement = table.update().where(table.c.id == bindparam("_id")).values(
        {name: bindparam(name) for name in ("detail", *TEXT_COLUMNS, "prev_hash", "row_hash")})
    new_hash = None
    changed_hashes = {}
    after = None
    while True:
        query = select(*columns).order_by(table.c.id).limit(BATCH)
        if after is not None:
            query = query.where(table.c.id > after)
        chunk = connection.execute(query).mappings().all()
        if not chunk:
            break
        updates = []
        for stored in chunk:
            row = dict(stored)
            masked = _redacted(row, custom_kinds) if redact_rows else False
            prev = row["prev_hash"] if new_hash is None else new_hash
            new_hash = seal(row["id"], row, prev)
            report.rows += 1
            report.masked += bool(masked)
            if masked or prev != stored["prev_hash"] or new_hash != stored["row_hash"]:
                if report.resealed_from is None:
                    report.resealed_from = int(row["id"])
                row["prev_hash"], row["row_hash"] = prev, new_hash
                updates.append({"_id": row["id"], "detail": row["detail"], "prev_hash": prev,
                                "row_hash": new_hash,
                                **{name: row[name] for name in TEXT_COLUMNS}})
                changed_hashes[int(row["id"])] = new_hash
        if updates:
            connection.execute(statement, updates)
        after = chunk[-1]["id"]
    if postgresql:
        connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
    last_id = int(after)
    if last_id in changed_hashes:
        connection.execute(chain.head_table.update().where(chain.head_table.c.id == chain.HEAD_ID)
                           .values(last_id=last_id, last_hash=changed_hashes[last_id]))
    archives = chain.archive_table
    for archive_id, archive_last in connection.execute(
            select(archives.c.id, archives.c.last_id).where(archives.c.purged_at.is_(None))):
        if int(archive_last) in changed_hashes:
            connection.execute(archives.update().where(archives.c.id == archive_id)
                               .values(last_hash=changed_hashes[int(archive_last)]))
            report.archives.append(int(archive_id))
    return report


def _redacted(row: dict, custom_kinds) -> bool:
    """Redact the row's detail and typed-in text columns in place; True if anything changed."""
    changed = False
    detail = row.get("detail")
    if detail:
        try:
            parsed = json.loads(detail)
        except ValueError:
            cleaned = redact.redact_text(detail)
        else:
            redacted = redact.redact(parsed, custom_kinds=custom_kinds)
            cleaned = detail if redacted == parsed else chain.canonical_json(redacted)
        if cleaned != detail:
            row["detail"], changed = cleaned, True
    for name in TEXT_COLUMNS:
        value = row.get(name)
        if isinstance(value, str):
            cleaned = redact.redact_text(value)[:MAX_TEXT[name]]
            if cleaned != value:
                row[name], changed = cleaned, True
    return changed
