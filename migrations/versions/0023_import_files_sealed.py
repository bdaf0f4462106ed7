"""import files sealed with the field-encryption key ring; a dry run's preview as a sealed file

Revision ID: 0023_import_files_sealed
Revises: 0022_session_epoch

Uploaded spreadsheets and error reports hold the same customer data as the encrypted columns, so
they are stored the same way: sealed whole with the key ring (AES-GCM, key id inside, bound to
``import_file/content/<batch>-<role>``), in ``import_file.content`` or in the shared folder
(``models.imports.seal_file``). This seals every file stored before, in place; a file that is
sealed already is left alone, so running it twice changes nothing. A dry run's sample of changes
used to sit in ``import_batch.dry_run`` as plain JSON (names, customer numbers): it now lives in a
sealed file of the new role ``preview`` and is shown per viewer; the old plain samples are
dropped (the next dry run of such a batch makes its preview again).
"""
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0023_import_files_sealed"
down_revision = "0022_session_epoch"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('upload','report')"
ROLES_AFTER = "role IN ('upload','report','preview')"
FILES = sa.table("import_file", sa.column("id", sa.Integer), sa.column("batch_id", sa.Integer),
                 sa.column("role", sa.String), sa.column("content", sa.LargeBinary),
                 sa.column("path", sa.String))
BATCHES = sa.table("import_batch", sa.column("id", sa.Integer), sa.column("dry_run", sa.Text))


def _keyring():
    from flask import current_app

    from models.crypto import KeyRingUnavailable

    keyring = current_app.extensions.get("crm_keyring") if current_app else None
    if keyring is None:
        raise KeyRingUnavailable("migration 0023 needs the app's key ring: run `flask db "
                                 "upgrade` (not bare alembic) with the encryption keys configured")
    return keyring


def _aad(batch_id, role) -> bytes:
    from models.crypto import aad

    return aad("import_file", "content", f"{int(batch_id)}-{role}")


def _opens(keyring, data: bytes, aad: bytes) -> bool:
    from models.crypto import CryptoError

    try:
        keyring.decrypt_bytes(data, aad)
    except CryptoError:
        return False
    return True


def _roles(check: str) -> None:
    with op.batch_alter_table("import_file") as batch:
        batch.drop_constraint("ck_import_file_role", type_="check")
        batch.create_check_constraint("ck_import_file_role", check)


def _rewrite_files(change) -> None:
    """``change(data, aad) -> new bytes or None`` applied to every stored file, one at a time."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(FILES.c.id, FILES.c.batch_id, FILES.c.role, FILES.c.path)
                        .order_by(FILES.c.id)).all()
    for file_id, batch_id, role, path in rows:
        aad = _aad(batch_id, role)
        if path:
            target = Path(path)
            if not target.exists():
                continue
            new = change(target.read_bytes(), aad)
            if new is not None:
                temporary = target.with_suffix(".migrate")
                temporary.write_bytes(new)
                temporary.chmod(0o600)
                temporary.replace(target)
            continue
        data = bind.execute(sa.select(FILES.c.content).where(FILES.c.id == file_id)).scalar()
        if data is None:
            continue
        new = change(bytes(data), aad)
        if new is not None:
            bind.execute(FILES.update().where(FILES.c.id == file_id).values(content=new))


def _drop_plain_samples() -> None:
    from models.base import JsonDocument

    bind = op.get_bind()
    for batch_id, document in bind.execute(sa.select(BATCHES.c.id, BATCHES.c.dry_run).where(
            BATCHES.c.dry_run.is_not(None))).all():
        data = json.loads(document) if isinstance(document, str) else document
        if isinstance(data, dict) and "diffs" in data:
            data.pop("diffs")
            bind.execute(sa.text("UPDATE import_batch SET dry_run = :doc WHERE id = :id")
                         .bindparams(sa.bindparam("doc", type_=JsonDocument))
                         .bindparams(doc=data, id=batch_id))


def upgrade():
    _roles(ROLES_AFTER)
    keyring = _keyring()

    def seal(data: bytes, aad: bytes):
        return None if _opens(keyring, data, aad) else keyring.encrypt_bytes(data, aad)

    _rewrite_files(seal)
    _drop_plain_samples()


def downgrade():
    keyring = _keyring()
    op.execute("DELETE FROM import_file WHERE role = 'preview'")

    def unseal(data: bytes, aad: bytes):
        return keyring.decrypt_bytes(data, aad) if _opens(keyring, data, aad) else None

    _rewrite_files(unseal)
    _roles(ROLES_BEFORE)
