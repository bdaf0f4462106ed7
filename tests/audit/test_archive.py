"""Retention: rows leave the online log only after an archive of them was written and recorded.

``flask crm audit archive`` writes a contiguous range with its hashes and records the file's
SHA-256; ``flask crm audit purge`` removes only recorded, intact archives; afterwards the chain
still verifies, starting from the archive's last hash.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import func, select

from backoffice.extensions import db
from models.audit import AuditArchive, AuditLog
from tests.audit.conftest import keyed_hash, last_id, log_rows, verify_cli

LOG = AuditLog.__table__
ARCHIVE = AuditArchive.__table__
TOMORROW = (dt.date.today() + dt.timedelta(days=2)).isoformat()


def _cli(app, *args):
    result = app.test_cli_runner().invoke(args=["crm", "audit", *args])
    return result.exit_code, result.output


def _archived_up_to(app) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(func.max(ARCHIVE.c.last_id))).scalar() or 0


def _count(app) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(LOG)).scalar()


def test_purge_without_an_archive_removes_nothing(app, audit_rows):
    audit_rows(3)
    unarchived = [r["id"] for r in log_rows(app, LOG.c.id > _archived_up_to(app))]
    code, output = _cli(app, "purge", "--before", TOMORROW)
    assert code == 0, output
    remaining = {r["id"] for r in log_rows(app)}
    assert set(unarchived) <= remaining


def test_default_retention_keeps_recent_rows(app, audit_rows):
    """By default only rows older than CRM_AUDIT_RETENTION_DAYS (365) are archived."""
    audit_rows(1)
    before = _archived_up_to(app)
    code, output = _cli(app, "archive", "--out", "/nonexistent-dir-h6/never.jsonl")
    assert code == 0 and "nothing to archive" in output, output
    assert _archived_up_to(app) == before


def test_archive_then_purge_keeps_the_chain_verifiable(app, audit_rows, tmp_path):
    audit_rows(4)
    end = last_id(app)
    out = tmp_path / "audit-archive.jsonl"
    code, output = _cli(app, "archive", "--before", TOMORROW, "--out", str(out))
    assert code == 0, output
    with app.app_context(), db.engine.connect() as connection:
        archive = connection.execute(
            select(ARCHIVE).order_by(ARCHIVE.c.id.desc()).limit(1)).mappings().one()
    assert archive["last_id"] >= end
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == archive["row_count"] == archive["last_id"] - archive["first_id"] + 1
    assert lines[-1]["row_hash"] == archive["last_hash"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == archive["file_sha256"]
    # The archive file verifies on its own: every line links to the one before.
    for before, after in zip(lines, lines[1:]):
        assert after["prev_hash"] == before["row_hash"]
    row = dict(lines[-1], occurred_at=dt.datetime.fromisoformat(lines[-1]["occurred_at"]))
    assert keyed_hash(app, row["id"], row, row["prev_hash"]) == row["row_hash"]

    code, output = _cli(app, "purge", "--before", TOMORROW)
    assert code == 0, output
    remaining = log_rows(app)
    assert remaining[0]["id"] == archive["last_id"] + 1
    assert remaining[0]["prev_hash"] == archive["last_hash"]
    assert {r["action"] for r in remaining} >= {"audit_archive", "audit_purge"}
    code, output = verify_cli(app)
    assert code == 0, output

    # Rows after the archive are untouched by a second purge.
    count = _count(app)
    assert _cli(app, "purge", "--before", TOMORROW)[0] == 0
    assert _count(app) == count


def test_changed_archive_file_blocks_the_purge(app, audit_rows, tmp_path):
    audit_rows(2)
    out = tmp_path / "audit-archive.csv"
    code, output = _cli(app, "archive", "--before", TOMORROW, "--out", str(out))
    assert code == 0, output
    assert out.read_text(encoding="utf-8").startswith("id,occurred_at,")
    original = out.read_bytes()
    out.write_bytes(original + b"forged\n")
    count = _count(app)
    code, output = _cli(app, "purge", "--before", TOMORROW)
    assert code == 1 and "missing or changed" in output, output
    assert _count(app) == count
    out.write_bytes(original)  # intact again: the purge may proceed
    code, output = _cli(app, "purge", "--before", TOMORROW)
    assert code == 0 and "purged" in output, output
    assert verify_cli(app)[0] == 0


def test_verify_checks_the_link_to_the_archive(app, audit_rows, tmp_path):
    """After a purge the first row must link to the archive's recorded last hash."""
    from tests.audit.conftest import superuser

    audit_rows(2)
    out = tmp_path / "a.jsonl"
    assert _cli(app, "archive", "--before", TOMORROW, "--out", str(out))[0] == 0
    code, output = _cli(app, "purge", "--before", TOMORROW)
    assert code == 0, output
    first = log_rows(app)[0]
    with app.app_context(), db.engine.connect() as connection:
        archive = connection.execute(
            select(ARCHIVE).where(ARCHIVE.c.last_id == first["id"] - 1)).mappings().one()
    with superuser(app) as connection:
        connection.execute(ARCHIVE.update().where(ARCHIVE.c.id == archive["id"])
                           .values(last_hash="f" * 64))
    code, output = verify_cli(app)
    assert code == 1 and f"FAILED at row {first['id']}" in output, output
    with superuser(app) as connection:
        connection.execute(ARCHIVE.update().where(ARCHIVE.c.id == archive["id"])
                           .values(last_hash=archive["last_hash"]))
    assert verify_cli(app)[0] == 0
