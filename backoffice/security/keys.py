"""The application's encryption key ring: where the keys come from, rotation, and status.

Keys come from configuration, never from ``SECRET_KEY``:

* ``CRM_ENCRYPTION_KEYS``: a JSON object ``{"<key id>": "<base64 of 32 random bytes>", ...}``;
  every key that may still have encrypted a stored value must be listed;
* ``CRM_PRIMARY_KEY_ID``: the key that encrypts new values (optional with a single key);
* ``CRM_BLIND_INDEX_KEY``: base64, the separate HMAC key of the blind indexes.

With none of them set, the embedded default (``make run`` on a laptop) generates a key file
``encryption_keys.json`` under the instance folder (owner-only permissions) on first start and
reuses it afterwards. Production (``CRM_ENV=production``) without keys refuses to start.

Rotation: add a new key, make it the primary, run ``flask crm keys rotate`` (it re-encrypts every
registered encrypted column to the primary key, batch by batch, and can be interrupted and run
again; then the sealed data features keep elsewhere, registered in ``key_rotation``: the
sensitive custom values inside JSON documents, the stored import files), check ``flask crm keys
status`` shows no row on the old key, then remove it.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, bindparam, func, or_, select, update

from backoffice.security import key_rotation
from config.settings import is_production, write_once  # noqa: F401 - used and re-exported
from models import crypto
from models.crypto import KeyConfigError, KeyRing

log = logging.getLogger(__name__)

KEY_FILE = "encryption_keys.json"
EXTENSION = "crm_keyring"


# --- loading ------------------------------------------------------------------------------------




def keyring_for_config(config, instance_path) -> KeyRing:
    """The key ring the settings describe, or the embedded default's key file."""
    keys = config.get("CRM_ENCRYPTION_KEYS")
    if keys:
        return KeyRing.from_settings(keys, config.get("CRM_PRIMARY_KEY_ID"),
                                     config.get("CRM_BLIND_INDEX_KEY"))
    if config.get("CRM_PRIMARY_KEY_ID") or config.get("CRM_BLIND_INDEX_KEY"):
        raise KeyConfigError("CRM_PRIMARY_KEY_ID / CRM_BLIND_INDEX_KEY are set but "
                             "CRM_ENCRYPTION_KEYS is not; set all three")
    if is_production(config):
        raise KeyConfigError(
            "Production needs its field-encryption keys: set CRM_ENCRYPTION_KEYS (a JSON object "
            "of key id -> base64 32-byte key), CRM_PRIMARY_KEY_ID and CRM_BLIND_INDEX_KEY in the "
            "environment (`flask crm keys generate` prints new keys). Refusing to start without "
            "them.")
    return instance_keyring(Path(instance_path))


def instance_keyring(instance_dir: Path) -> KeyRing:
    """The embedded default's key ring, generated into ``instance/`` on first use."""
    path = Path(instance_dir) / KEY_FILE
    if not path.exists():
        generated = json.dumps(KeyRing.generate("k1").to_settings(), indent=2)
        if write_once(path, generated):
            log.warning("generated field-encryption keys in %s; back this file up with the "
                        "database (without it the encrypted columns cannot be read)", path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> KeyRing:
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise KeyConfigError(f"cannot read the key file {path}: {error}") from None
    return KeyRing.from_settings(settings.get("CRM_ENCRYPTION_KEYS"),
                                 settings.get("CRM_PRIMARY_KEY_ID"),
                                 settings.get("CRM_BLIND_INDEX_KEY"))


def add_instance_key(instance_dir: Path, kid: str, key: str) -> Path:
    """Add a key to the embedded key file and make it the primary (for ``keys generate``)."""
    path = Path(instance_dir) / KEY_FILE
    ring = _read_key_file(path).with_key(kid, key, primary=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(ring.to_settings(), handle, indent=2)
    os.replace(tmp, path)
    return path


def install(app) -> None:
    """Build the app's key ring (refusing to start on bad or missing production keys)."""
    app.extensions[EXTENSION] = keyring_for_config(app.config, app.instance_path)


def app_keyring(app=None) -> KeyRing:
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions[EXTENSION]


# --- rotation and status ---------------------------------------------------------------------


@dataclass
class RotationReport:
    """Rows re-encrypted per table, and rows skipped because they changed meanwhile."""

    primary_kid: str
    rewritten: dict[str, int] = field(default_factory=dict)
    raced: int = 0
    seconds: float = 0.0


def _tables(metadata):
    for table_name, specs in crypto.registered().items():
        table = metadata.tables.get(table_name)
        if table is None:
            continue
        yield table, specs


def _not_on(column, prefix: str):
    """Stored text that does not start with ``prefix`` (a prefix comparison, no LIKE)."""
    return and_(column.is_not(None), func.substr(column, 1, len(prefix)) != prefix)


def pending_rows(connection, table, specs, prefix: str) -> int:
    condition = _any_not_on(table, specs, prefix)
    return connection.execute(select(func.count()).select_from(table).where(condition)).scalar()


def _any_not_on(table, specs, prefix):
    return or_(*[_not_on(table.c[spec.column], prefix) for spec in specs])


def rotate(engine, keyring: KeyRing, metadata=None, batch_size: int = 500,
           progress: Callable[[str, int, int], None] | None = None) -> RotationReport:
    """Re-encrypt every registered encrypted column to the primary key, in batches.

    Resumable: each batch is its own transaction and only rows with a value not on the primary
    key are selected, so an interrupted run continues where it stopped. Each row is updated by
    primary key *and* its old ciphertexts, so a value changed by a user meanwhile is never
    overwritten (it is already on the primary key). Core UPDATEs: no ORM events, no version bump,
    and ``updated_at`` is kept as it was (rotation is not a business change).
    ``progress(table, rows checked, rows to check)`` is called before and after every batch.
    """
    if metadata is None:
        from flask_appbuilder import Model

        metadata = Model.metadata
    elsewhere = key_rotation.passes()  # before any work: a partial rotation would mislead
    started = time.perf_counter()
    prefix = keyring.prefix()
    report = RotationReport(keyring.primary_kid)
    for table, specs in _tables(metadata):
        pk = table.c[specs[0].pk]
        columns = [pk, *{table.c[s.uid_column] for s in specs}, *[table.c[s.column] for s in specs]]
        with engine.connect() as connection:
            total = pending_rows(connection, table, specs, prefix)
        done, last_pk = 0, None
        report.rewritten[table.name] = 0
        if progress:
            progress(table.name, done, total)
        while True:
            condition = _any_not_on(table, specs, prefix)
            if last_pk is not None:
                condition = and_(condition, pk > last_pk)
            with engine.begin() as connection:
                rows = connection.execute(
                    select(*columns).where(condition).order_by(pk).limit(batch_size)
                ).mappings().all()
                if not rows:
                    break
                last_pk = rows[-1][pk.name]
                changed, raced = _reencrypt(connection, table, specs, rows, keyring)
            report.rewritten[table.name] += changed
            report.raced += raced
            done += len(rows)
            if progress:
                progress(table.name, min(done, total), total)
    # Sealed data the features keep elsewhere: sensitive custom values inside JSON documents and
    # change-request payloads (fields), stored import files sealed whole (imports).
    for sealed in elsewhere:
        sealed.rotate(engine, keyring, metadata, report, batch_size, progress)
    report.seconds = time.perf_counter() - started
    return report


def _reencrypt(connection, table, specs, rows, keyring: KeyRing) -> tuple[int, int]:
    """Re-seal one batch; returns (rows rewritten, rows skipped because they changed)."""
    prefix = keyring.prefix()
    pk = specs[0].pk
    groups: dict[tuple, list[dict]] = {}  # the set of columns to rewrite -> one executemany
    for row in rows:
        params = {"_pk": row[pk]}
        for spec in specs:
            token = row[spec.column]
            if token is None or token.startswith(prefix):
                continue
            aad = spec.aad(row[spec.uid_column])
            params[f"_old_{spec.column}"] = token
            params[f"_new_{spec.column}"] = keyring.encrypt(keyring.decrypt(token, aad), aad)
        names = tuple(sorted(k[len("_new_"):] for k in params if k.startswith("_new_")))
        if names:
            groups.setdefault(names, []).append(params)
    changed = raced = 0
    for names, params in groups.items():
        values = {name: bindparam(f"_new_{name}") for name in names}
        for column in table.c:  # keep updated_at (onupdate) as it was: not a business change
            if column.onupdate is not None and column.name not in values:
                values[column.name] = column
        statement = update(table).where(
            table.c[pk] == bindparam("_pk"),
            *[table.c[name] == bindparam(f"_old_{name}") for name in names],
        ).values(values)
        if connection.dialect.supports_sane_multi_rowcount:
            count = connection.execute(statement, params).rowcount
        else:  # row by row, so that a raced row is counted, not guessed
            count = sum(connection.execute(statement, p).rowcount for p in params)
        changed += count
        raced += len(params) - count
    return changed, raced


def key_status(engine, keyring: KeyRing, metadata=None) -> dict[str, dict[str, int]]:
    """Rows per key id for every registered encrypted column: ``{"table.field": {kid: n}}``.

    Key ids not in the ring are found too (``"?<kid>"`` would be unreadable rows), so an operator
    sees before removing a key that nothing still needs it.
    """
    if metadata is None:
        from flask_appbuilder import Model

        metadata = Model.metadata
    elsewhere = key_rotation.passes()
    status: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for table, specs in _tables(metadata):
            for spec in specs:
                column = table.c[spec.column]
                counts = {}
                known = []
                for kid in keyring.kids:
                    prefix = keyring.prefix(kid)
                    known.append(prefix)
                    counts[kid] = connection.execute(
                        select(func.count()).select_from(table).where(
                            column.is_not(None),
                            func.substr(column, 1, len(prefix)) == prefix)).scalar()
                others = and_(column.is_not(None), *[
                    func.substr(column, 1, len(p)) != p for p in known])
                for (token,) in connection.execute(select(column).where(others)):
                    try:
                        kid = crypto.key_id_of(token)
                    except crypto.DecryptionError:
                        kid = "(not encrypted)"
                    counts[kid] = counts.get(kid, 0) + 1
                status[f"{table.name}.{spec.field}"] = counts
    for sealed in elsewhere:
        status.update(sealed.status(engine, keyring, metadata))
    return status
