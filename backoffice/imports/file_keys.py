"""Key rotation and key status for the stored import files (uploads, error reports, previews).

A stored file is sealed whole (``models.imports.seal_file``: ``v1.<kid>.`` + nonce + ciphertext,
bound to its batch and role), in ``import_file.content`` or in the shared folder. ``flask crm keys
rotate`` re-seals to the primary key every file sealed with another key, one file per
transaction (files can be large: one is in memory at a time), and only if its ciphertext is still
the one that was read (a file replaced meanwhile is on the primary key already). ``keys status``
counts the files per key id. Both are called from ``backoffice.security.keys``, which knows
them through the core's registry (``backoffice.security.key_rotation``): :func:`register`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update

from backoffice.security import key_rotation
from models import crypto
from models.crypto import KeyRing
from models.imports import ImportFile, file_aad

TABLE = "import_file"
STATUS_KEY = "import_file.content"


def _kid(sealed) -> str:
    try:
        return crypto.key_id_of_bytes(bytes(sealed or b"")[:40])
    except crypto.DecryptionError:
        return "(not encrypted)"


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(40)
    except OSError:
        return b""


def register() -> None:
    """Join ``flask crm keys rotate`` and ``keys status`` (called by the imports feature's
    ``register``; files are re-sealed one at a time, so the batch size is not theirs)."""
    key_rotation.register(TABLE, _rotate_pass, _status_pass)


def _rotate_pass(engine, keyring: KeyRing, metadata, report, batch_size, progress) -> None:
    rotate(engine, keyring, report, progress)


def _status_pass(engine, keyring: KeyRing, metadata) -> dict[str, dict[str, int]]:
    return status(engine)


def status(engine) -> dict[str, dict[str, int]]:
    """``{"import_file.content": {kid: files}}``: where each stored file's key is named."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        rows = connection.execute(select(ImportFile.id, ImportFile.path)).all()
        for file_id, path in rows:
            head = _head(path) if path else connection.execute(
                select(ImportFile.content).where(ImportFile.id == file_id)).scalar()
            if not path and head is None:
                continue
            kid = _kid(head)
            counts[kid] = counts.get(kid, 0) + 1
    return {STATUS_KEY: counts}


def rotate(engine, keyring: KeyRing, report=None,
           progress: Callable[[str, int, int], None] | None = None) -> int:
    """Re-seal every stored file not on the primary key; returns the files rewritten."""
    prefix = keyring.prefix().encode("ascii")
    with engine.connect() as connection:
        rows = connection.execute(select(ImportFile.id, ImportFile.batch_id, ImportFile.role,
                                         ImportFile.path).order_by(ImportFile.id)).all()
    total, done, rewritten = len(rows), 0, 0
    if progress:
        progress(TABLE, done, total)
    for file_id, batch_id, role, path in rows:
        aad = file_aad(batch_id, role)
        if path:
            rewritten += _rotate_path(Path(path), aad, keyring, prefix)
        else:
            rewritten += _rotate_row(engine, file_id, aad, keyring, prefix)
        done += 1
        if progress:
            progress(TABLE, done, total)
    if report is not None:
        report.rewritten[TABLE] = report.rewritten.get(TABLE, 0) + rewritten
    return rewritten


def _rotate_row(engine, file_id: int, aad: bytes, keyring: KeyRing, prefix: bytes) -> int:
    with engine.begin() as connection:
        sealed = connection.execute(select(ImportFile.content).where(
            ImportFile.id == file_id)).scalar()
        if sealed is None:
            return 0
        sealed = bytes(sealed)
        if sealed.startswith(prefix):
            return 0
        fresh = keyring.encrypt_bytes(keyring.decrypt_bytes(sealed, aad), aad)
        return connection.execute(update(ImportFile).where(
            ImportFile.id == file_id, ImportFile.content == sealed).values(
            content=fresh)).rowcount


def _rotate_path(path: Path, aad: bytes, keyring: KeyRing, prefix: bytes) -> int:
    try:
        sealed = path.read_bytes()
    except OSError:
        return 0  # purged or unreachable: nothing to re-seal here
    if sealed.startswith(prefix):
        return 0
    fresh = keyring.encrypt_bytes(keyring.decrypt_bytes(sealed, aad), aad)
    temporary = path.with_suffix(".rekey")
    with open(temporary, "wb") as handle:
        handle.write(fresh)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)  # never a half-written file under the final name
    return 1
