"""Retention: archive old log rows to a file, then (and only then) purge them.

An archive is a contiguous id range starting right after the previous archive, written with
its chain hashes (so the file can be verified on its own) and recorded in ``audit_archive``
with the file's SHA-256 and the range's last hash. ``purge`` deletes only ranges that such a
record covers, after checking that the file is still there and unchanged; on PostgreSQL the
table's trigger independently refuses any DELETE outside the archive named by the purging
transaction. The first row left behind links to the archive's recorded last hash, which is where
``verify`` starts.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text

from backoffice.audit import chain
from backoffice.audit.log import build_row
from backoffice.exports import neutralise
from models.base import utcnow

log_table = chain.log_table
archive_table = chain.archive_table
COLUMNS = ["id", *chain.FIELDS, "prev_hash", "row_hash"]


class ArchiveError(Exception):
    """Archiving or purging was refused; nothing was changed."""


def default_before(app_config) -> dt.datetime:
    """Rows older than the retention period (``CRM_AUDIT_RETENTION_DAYS``, default 365)."""
    days = int(app_config["CRM_AUDIT_RETENTION_DAYS"])
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days)


@dataclass
class ArchiveResult:
    archive_id: int | None
    first_id: int | None
    last_id: int | None
    rows: int
    file_sha256: str | None
    path: str | None


def archive(engine, before: dt.datetime, out: str | os.PathLike, actor=None) -> ArchiveResult:
    """Write every not yet archived row older than ``before`` to ``out`` (.jsonl or .csv)."""
    path = Path(out)
    with engine.connect() as connection:
        checked = chain.verify(connection)
        if not checked.ok:
            raise ArchiveError(f"the log does not verify at row {checked.bad_id} "
                               f"({checked.reason}); fix that before archiving")
        start = _next_unarchived_id(connection)
        last_id = connection.execute(
            select(func.max(log_table.c.id)).where(log_table.c.occurred_at < before,
                                                   log_table.c.id >= start)
        ).scalar()
        if last_id is None:
            return ArchiveResult(None, None, None, 0, None, None)
        digest, rows, last_hash = _write_file(connection, path, start, int(last_id))
        connection.rollback()  # end the reading transaction; record and log in a fresh one
        chain.lock_head(connection)  # serialise with writers and with another archive run
        if _next_unarchived_id(connection) != start:
            connection.rollback()
            path.unlink(missing_ok=True)
            raise ArchiveError("another archive run recorded these rows meanwhile; run again")
        archive_id = connection.execute(archive_table.insert().values(
            created_at=utcnow(), created_by=_actor_name(actor), first_id=start,
            last_id=int(last_id), row_count=rows, last_hash=last_hash,
            file_name=str(path.resolve()), file_sha256=digest,
        ).returning(archive_table.c.id)).scalar_one()
        chain.append(connection, [build_row(
            "audit_archive", entity="AuditArchive", entity_id=archive_id, actor=actor,
            detail={"first_id": start, "last_id": int(last_id), "rows": rows,
                    "before": before.isoformat(), "file": str(path.resolve()),
                    "sha256": digest})])
        connection.commit()
    return ArchiveResult(archive_id, start, int(last_id), rows, digest, str(path))


def _actor_name(actor):
    if actor is None:
        return None
    return actor if isinstance(actor, str) else getattr(actor, "username", str(actor))


def _next_unarchived_id(connection) -> int:
    """Archives are contiguous: the next one starts after the last one (or at the first row)."""
    archived = connection.execute(select(func.max(archive_table.c.last_id))).scalar()
    if archived is not None:
        return int(archived) + 1
    first = connection.execute(select(func.min(log_table.c.id))).scalar()
    return int(first) if first is not None else 1


def export_row(row) -> dict:
    """A log row as archives and exports write it (times as the hash saw them)."""
    values = {name: row[name] for name in COLUMNS}
    values["occurred_at"] = chain.time_text(row["occurred_at"])
    return values


def neutralise_row(values: dict) -> dict:
    """A row for the CSV form, which people open in spreadsheets: a value that could run as a
    formula gets a leading quote (:func:`backoffice.exports.neutralise`; so does a value that
    starts with a quote already). To recompute a row's hash from a CSV archive, remove exactly
    one leading quote from every value that starts with one; the .jsonl form holds the values
    exactly as hashed."""
    return {name: neutralise(value) for name, value in values.items()}


def _write_file(connection, path: Path, first_id: int, last_id: int, batch: int = 5000):
    """Stream the range to ``path`` (written to a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    rows = 0
    last_hash = None
    as_csv = path.suffix.lower() == ".csv"
    columns = [log_table.c[name] for name in COLUMNS]
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS) if as_csv else None
        if writer:
            writer.writeheader()
        after = first_id - 1
        while after < last_id:
            chunk = connection.execute(
                select(*columns).where(log_table.c.id > after, log_table.c.id <= last_id)
                .order_by(log_table.c.id).limit(batch)
            ).mappings().all()
            if not chunk:
                break
            for row in chunk:
                values = export_row(row)
                if writer:
                    writer.writerow(neutralise_row(values))
                else:
                    handle.write(json.dumps(values, ensure_ascii=False, sort_keys=True) + "\n")
                rows += 1
                last_hash = row["row_hash"]
            after = int(chunk[-1]["id"])
    with open(partial, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    os.replace(partial, path)
    if rows != last_id - first_id + 1:
        raise ArchiveError(f"rows {first_id}..{last_id} are not all present ({rows} found)")
    return digest.hexdigest(), rows, last_hash


def file_sha256(path) -> str | None:
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    except OSError:
        return None


@dataclass
class PurgeResult:
    archives: list
    rows: int
    refused: list


def purge(engine, before: dt.datetime, actor=None) -> PurgeResult:
    """Delete archived ranges whose rows are all older than ``before``, oldest first.

    A range whose file is missing or changed is refused, and so is everything after it (the
    rows left must stay one contiguous chain). Rows never archived are never touched.
    """
    purged, refused, total = [], [], 0
    with engine.connect() as connection:
        checked = chain.verify(connection)
        if not checked.ok:
            raise ArchiveError(f"the log does not verify at row {checked.bad_id} "
                               f"({checked.reason}); nothing purged")
        candidates = connection.execute(
            select(archive_table).where(archive_table.c.purged_at.is_(None))
            .order_by(archive_table.c.first_id)
        ).mappings().all()
        connection.rollback()
        for archive_row in candidates:
            newest = connection.execute(
                select(func.max(log_table.c.occurred_at)).where(
                    log_table.c.id.between(archive_row["first_id"], archive_row["last_id"]))
            ).scalar()
            connection.rollback()
            if newest is not None and newest >= before:
                break
            if file_sha256(archive_row["file_name"]) != archive_row["file_sha256"]:
                refused.append((archive_row["id"], "archive file missing or changed"))
                break
            total += _purge_one(connection, archive_row, actor)
            purged.append(archive_row["id"])
    return PurgeResult(purged, total, refused)


def _purge_one(connection, archive_row, actor) -> int:
    """Delete one archive's rows, mark it purged and log the purge, in one transaction."""
    first_id, last_id = archive_row["first_id"], archive_row["last_id"]
    if connection.dialect.name == "postgresql":
        # Read by the table's trigger: DELETE is allowed only inside this archive's range.
        connection.execute(text("SELECT set_config('crm.audit_purge', :value, true)"),
                           {"value": str(archive_row["id"])})
    deleted = connection.execute(
        log_table.delete().where(log_table.c.id.between(first_id, last_id))
    ).rowcount
    connection.execute(archive_table.update().where(archive_table.c.id == archive_row["id"])
                       .values(purged_at=utcnow()))
    chain.append(connection, [build_row(
        "audit_purge", entity="AuditArchive", entity_id=archive_row["id"], actor=actor,
        detail={"first_id": int(first_id), "last_id": int(last_id), "rows": int(deleted)})])
    connection.commit()
    return int(deleted)
