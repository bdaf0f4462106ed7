"""Where an import's bytes live: in the database, or in the configured shared folder.

A worker on another machine must read the upload (DESIGN §2), so a local temporary file is never
enough. ``CRM_IMPORT_FOLDER`` (a folder every web and worker machine mounts) keeps large files
out of the database; without it the bytes go into ``import_file.content``. Either way the
SHA-256 is stored and checked on every read, so a file changed behind the batch's back is refused.
They are sealed with the field-encryption key ring, in both places (``models.imports.seal_file``).
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports.reading import ImportFileError, sha256_hex
from models.crypto import CryptoError
from models.imports import ImportFile, open_file, seal_file


def shared_folder() -> Path | None:
    folder = current_app.config.get("CRM_IMPORT_FOLDER")
    return Path(folder) if folder else None


def store(session, batch_id: int, role: str, data: bytes) -> ImportFile:
    """Keep ``data`` for the batch (replacing an earlier file of the same role)."""
    digest = sha256_hex(data)
    record = session.execute(select(ImportFile).where(
        ImportFile.batch_id == batch_id, ImportFile.role == role)).scalar_one_or_none()
    if record is None:
        record = ImportFile(batch_id=batch_id, role=role)
        session.add(record)
    record.sha256, record.size_bytes = digest, len(data)
    data = seal_file(batch_id, role, data)  # the folder and the column hold ciphertext only
    folder = shared_folder()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"batch-{batch_id}-{role}-{digest[:16]}"
        temporary = path.with_suffix(".part")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # never a half-written file under the final name
        os.chmod(path, 0o600)
        record.path, record.content = str(path), None
    else:
        record.path, record.content = None, data
    return record


def load(session, batch_id: int, role: str = "upload") -> bytes | None:
    """The bytes of the batch's file of ``role`` (None if there is none), checked."""
    record = session.execute(select(ImportFile.id, ImportFile.path, ImportFile.sha256).where(
        ImportFile.batch_id == batch_id, ImportFile.role == role)).one_or_none()
    if record is None:
        return None
    if record.path:
        try:
            data = Path(record.path).read_bytes()
        except OSError:
            raise ImportFileError(_l("The stored file of this batch cannot be read from the "
                                     "shared folder.")) from None
    else:
        data = _content(session, record.id)
    try:
        data = open_file(batch_id, role, data)
    except CryptoError:
        raise ImportFileError(_l("The stored file of this batch cannot be decrypted (damaged, "
                                 "or sealed with a key that is no longer configured).")) from None
    if sha256_hex(data) != record.sha256:
        raise ImportFileError(_l("The stored file of this batch has changed since it was "
                                 "uploaded; upload it again."))
    return data


def _content(session, file_id: int) -> bytes:
    """The stored bytes, read once.

    On PostgreSQL (psycopg 3) the bytes come in binary format: a text-format ``bytea`` arrives
    as hex, twice the file's size, beside the bytes decoded from it (a 1,000,000-row upload is
    125 MiB: 375 MiB at the peak instead of 250). Elsewhere through the ORM's column.
    """
    from backoffice.imports import pg_copy

    connection = session.connection()
    raw = pg_copy.driver_connection(connection)
    if raw is not None:
        with raw.cursor(binary=True) as cursor:
            cursor.execute("SELECT content FROM import_file WHERE id = %s", (file_id,))
            row = cursor.fetchone()
        content = row[0] if row else None
    else:
        content = session.execute(select(ImportFile.content).where(
            ImportFile.id == file_id)).scalar()
    return bytes(content or b"")
