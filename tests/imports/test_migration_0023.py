"""Migration 0023 seals the import files a database already holds, and drops plain samples.

Guards: a stored upload and error report written before the migration (plain bytes) are sealed
in place (no plaintext left, they open with the key ring and their batch's associated data), a
batch's plain dry-run sample leaves ``import_batch.dry_run``, running it on sealed files changes
nothing, and the downgrade gives the plain bytes back.
"""
from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import insert, select

from backoffice.extensions import db
from models import crypto
from models.base import utcnow
from models.imports import ImportBatch, ImportFile, open_file
from tests.support.services import migration_app

PLAIN = "客户号,姓名\nMIG0001,迁移标记姓名\n".encode()
REPORT = b"PK\x03\x04-report-" + "迁移标记".encode()


def _plant(app) -> int:
    with app.app_context():
        connection = db.session.connection()
        batch_id = connection.execute(insert(ImportBatch.__table__).values(
            kind="customers", mode="atomic", status="dry_run", filename="m.csv",
            file_format="csv", sha256="0" * 64, size_bytes=len(PLAIN), headers=["客户号"],
            mapping={}, create_fields=False, rows_done=0, created_count=0, updated_count=0,
            unchanged_count=0, rejected_count=0, checkpoint_row=0, needs_approval=False,
            cancel_requested=False, created_at=utcnow(), updated_at=utcnow(),
            dry_run={"created": 1, "diffs": [{"record": "MIG0001", "fields": {
                "name": ["迁移标记姓名", "新"]}}]})).inserted_primary_key[0]
        for role, data in (("upload", PLAIN), ("report", REPORT)):
            connection.execute(insert(ImportFile.__table__).values(
                batch_id=batch_id, role=role, sha256="0" * 64, size_bytes=len(data),
                content=data, created_at=utcnow()))
        db.session.commit()
        return batch_id


def _files(app) -> dict:
    with app.app_context():
        return {role: bytes(content) for role, content in db.session.execute(
            select(ImportFile.role, ImportFile.content)).all()}


def test_upgrade_seals_stored_files_and_downgrade_opens_them(tmp_path):
    with migration_app(tmp_path, sqlite=True) as app:
        with app.app_context():
            upgrade(revision="0022_session_epoch")
        batch_id = _plant(app)
        with app.app_context():
            upgrade(revision="0023_import_files_sealed")
        sealed = _files(app)
        with app.app_context():
            keyring = crypto.current_keyring()
            for role, plain in (("upload", PLAIN), ("report", REPORT)):
                assert "迁移标记".encode() not in sealed[role]
                assert sealed[role].startswith(keyring.prefix().encode())
                assert open_file(batch_id, role, sealed[role]) == plain
            dry_run = db.session.execute(select(ImportBatch.dry_run)).scalar()
            assert dry_run == {"created": 1}
            # Running the sealing again leaves sealed files as they are.
            downgrade(revision="0022_session_epoch")
        assert _files(app) == {"upload": PLAIN, "report": REPORT}
        with app.app_context():
            upgrade(revision="0023_import_files_sealed")
            upgrade(revision="0023_import_files_sealed")
        assert all(v.startswith(b"v1.") for v in _files(app).values())
