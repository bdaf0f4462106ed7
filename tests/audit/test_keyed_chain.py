"""A database superuser cannot edit the log and recompute the chain unnoticed.

The chain is keyed (HMAC under a key outside the database): recomputing it with the plain
algorithm fails verification at the edited row. What the key alone cannot show (rows cut off the
end, or a rewrite by someone holding the key) signed checkpoints outside the database do.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backoffice.audit import chain, chain_key
from backoffice.extensions import db
from models.audit import AuditArchive, AuditHead, AuditLog
from models.crypto import KeyConfigError
from tests.audit.conftest import keyed_hash, log_rows, superuser, verify_cli

LOG = AuditLog.__table__
HEAD = AuditHead.__table__
ARCHIVE = AuditArchive.__table__


def _rows_from(app, first_id):
    return log_rows(app, LOG.c.id >= first_id)


def _head(app):
    with app.app_context(), db.engine.connect() as connection:
        return dict(connection.execute(select(HEAD)).mappings().one())


def _restore(app, rows, head):
    """Put rows and the head back exactly as they were (the session's log must verify)."""
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id >= rows[0]["id"]))
        connection.execute(LOG.insert(), rows)
        connection.execute(HEAD.update().values(last_id=head["last_id"],
                                                last_hash=head["last_hash"]))
    assert verify_cli(app)[0] == 0


def _rechain(app, rows, prev_hash, hasher):
    """Recompute hashes from the first of ``rows`` on, and move the head: a forger's rewrite."""
    with superuser(app) as connection:
        for row in rows:
            row = dict(row, prev_hash=prev_hash)
            row["row_hash"] = prev_hash = hasher(row["id"], row, prev_hash)
            connection.execute(LOG.update().where(LOG.c.id == row["id"])
                               .values(detail=row["detail"], prev_hash=row["prev_hash"],
                                       row_hash=row["row_hash"]))
        connection.execute(HEAD.update().values(last_id=rows[-1]["id"], last_hash=prev_hash))


@pytest.fixture
def checkpoint_dir(app, tmp_path):
    app.config["CRM_AUDIT_CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    yield tmp_path / "checkpoints"
    app.config.pop("CRM_AUDIT_CHECKPOINT_DIR", None)


def _checkpoint(app, *args):
    result = app.test_cli_runner().invoke(args=["crm", "audit", "checkpoint", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_edit_recomputed_with_the_plain_hash_fails_at_the_edited_row(app, audit_rows):
    rows = audit_rows(4)
    target = rows[1]["id"]
    head = _head(app)
    original = _rows_from(app, target)
    forged = [dict(original[0], detail=json.dumps({"n": 999}))] + original[1:]
    _rechain(app, forged, original[0]["prev_hash"], chain.unkeyed_hash)
    code, output = verify_cli(app)
    assert code == 1 and f"FAILED at row {target}:" in output, output
    _restore(app, original, head)


def test_checkpoint_catches_rows_cut_off_the_end(app, audit_rows, checkpoint_dir):
    """Deleting the newest rows and moving the head back leaves a keyed chain that links up;
    the checkpoint taken before names the vanished row."""
    audit_rows(3)
    output = _checkpoint(app)
    assert "checkpoint: row" in output
    files = list(checkpoint_dir.glob("audit-checkpoint-*.json"))
    assert len(files) == 1
    pinned = json.loads(files[0].read_text())["row_id"]
    audit_rows(1)
    head = _head(app)
    cut_from = pinned - 1
    original = _rows_from(app, cut_from)
    keep = log_rows(app, LOG.c.id == cut_from - 1)[0]
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id >= cut_from))
        connection.execute(HEAD.update().values(last_id=keep["id"], last_hash=keep["row_hash"]))
    app.config.pop("CRM_AUDIT_CHECKPOINT_DIR")
    assert verify_cli(app)[0] == 0  # the chain alone cannot tell
    app.config["CRM_AUDIT_CHECKPOINT_DIR"] = str(checkpoint_dir)
    code, output = verify_cli(app)
    assert code == 1 and f"FAILED at row {pinned}:" in output and "missing" in output, output
    _restore(app, original, head)
    assert "checkpoint(s) hold" in verify_cli(app)[1]


def test_checkpoint_catches_a_rewrite_by_someone_holding_the_key(app, audit_rows,
                                                                checkpoint_dir):
    rows = audit_rows(3)
    _checkpoint(app)
    target = rows[0]["id"]
    head = _head(app)
    original = _rows_from(app, target)
    forged = [dict(original[0], detail=json.dumps({"n": 4242}))] + original[1:]
    _rechain(app, forged, original[0]["prev_hash"],
             lambda i, r, p: keyed_hash(app, i, r, p))
    code, output = verify_cli(app)
    assert code == 1 and "differs from checkpoint" in output, output
    assert f"FAILED at row {json.loads(next(checkpoint_dir.glob('*.json')).read_text())['row_id']}" \
        in output
    _restore(app, original, head)


def test_an_altered_checkpoint_file_fails(app, audit_rows, checkpoint_dir):
    audit_rows(1)
    _checkpoint(app)
    path = next(checkpoint_dir.glob("*.json"))
    data = json.loads(path.read_text())
    data["row_hash"] = "0" * 64
    path.write_text(json.dumps(data))
    code, output = verify_cli(app)
    assert code == 1 and "signature does not hold" in output, output
    path.unlink()
    assert verify_cli(app)[0] == 0


def test_checkpoint_goes_to_out_and_is_logged(app, audit_rows, tmp_path):
    audit_rows(1)
    output = _checkpoint(app, "--out", str(tmp_path / "elsewhere"))
    assert list((tmp_path / "elsewhere").glob("audit-checkpoint-*.json"))
    assert "elsewhere" in output
    assert log_rows(app, limit=1)[0]["action"] == "audit_checkpoint"
    result = app.test_cli_runner().invoke(args=["crm", "audit", "checkpoint"])
    assert result.exit_code != 0 and "CRM_AUDIT_CHECKPOINT_DIR" in result.output


def test_front_rows_removed_behind_a_forged_archive_record_fail(app, audit_rows):
    """An archive record is plain database data; without the keyed purge row it proves nothing."""
    audit_rows(2)
    first = log_rows(app)[0]
    head = _head(app)
    everything = log_rows(app)
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id == first["id"]))
        archive_id = connection.execute(ARCHIVE.insert().values(
            created_at=first["occurred_at"], created_by="dba", first_id=first["id"],
            last_id=first["id"], row_count=1, last_hash=first["row_hash"], file_name="/dev/null",
            file_sha256="0" * 64, purged_at=first["occurred_at"]).returning(ARCHIVE.c.id)
        ).scalar_one()
    code, output = verify_cli(app)
    assert code == 1 and "no purge of them is on record" in output, output
    with superuser(app) as connection:
        connection.execute(ARCHIVE.delete().where(ARCHIVE.c.id == archive_id))
    _restore(app, everything, head)


def test_production_refuses_to_start_without_the_chain_key(tmp_path):
    with pytest.raises(KeyConfigError, match="CRM_AUDIT_CHAIN_KEY"):
        chain_key.key_for_config({"CRM_ENV": "production"}, tmp_path)
    assert not (tmp_path / chain_key.KEY_FILE).exists()


def test_embedded_default_generates_the_key_once_owner_only(tmp_path):
    key = chain_key.key_for_config({}, tmp_path)
    path = tmp_path / chain_key.KEY_FILE
    assert len(key) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert chain_key.key_for_config({}, tmp_path) == key
    configured = chain_key.key_for_config(
        {"CRM_AUDIT_CHAIN_KEY": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}, tmp_path)
    assert configured == b"A" * 32
    with pytest.raises(KeyConfigError):
        chain_key.key_for_config({"CRM_AUDIT_CHAIN_KEY": "short"}, tmp_path)
