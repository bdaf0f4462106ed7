"""Key rotation for the sealed values that live *inside* JSON documents.

``keys.rotate`` re-encrypts the registered encrypted columns, but a sensitive custom field's
value is sealed on its own and kept inside the record's ``custom_fields`` JSON (bound to the
table, ``custom_fields.<key>`` and the record's uid, see ``backoffice.fields.values``), and a
change request's payload carries such sealed values too (bound to the uid the customer has, or
will have once approved). Without re-sealing them, removing an old key after a rotation would
make them unreadable for good. Archived sensitive definitions are included: their data is kept.
The key ring (core) knows these passes only through ``backoffice.security.key_rotation``, where
:func:`register` adds them when the fields feature registers.

Batched by primary key, each batch its own transaction (resumable: a value already on the
primary key is left alone), and race-safe: a row is written only if its document (JSON text,
and ``version`` where the table has one; the payload ciphertext for a change request) is still
the one that was read. Core UPDATEs keep ``updated_at`` and ``version``: not a business change.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from sqlalchemy import Text, and_, bindparam, cast, or_, select, update
from sqlalchemy.orm import Session

from backoffice.security import key_rotation
from models import crypto
from models.crypto import KeyRing

STORAGE = "custom_fields"
REQUESTS = "change_request"


def sensitive_specs(engine) -> dict[str, list]:
    """Sensitive field specs by table, archived ones included (their stored values remain)."""
    from backoffice.fields.registry import entity_model, spec_of
    from models.fields import CustomFieldDefinition as D

    by_table: dict[str, list] = {}
    with Session(engine) as session:
        rows = session.execute(select(D).where(D.sensitive.is_(True)).order_by(D.id)).scalars()
        for row in rows:
            if entity_model(row.entity) is None:
                continue
            spec = spec_of(row)
            by_table.setdefault(spec.table, []).append(spec)
    return by_table


def _uid_column(table):
    return table.c.record_uid if "record_uid" in table.c else table.c.id


def _candidates(table, specs):
    """Rows whose JSON text mentions one of the keys (a cheap superset; Python decides)."""
    text = cast(table.c[STORAGE], Text)
    return or_(*[text.like(f'%"{spec.key}"%') for spec in specs])


def _kid(token) -> str:
    if not isinstance(token, str):
        return "(not encrypted)"
    try:
        return crypto.key_id_of(token)
    except crypto.DecryptionError:
        return "(not encrypted)"


def _reseal(spec, token, uid, keyring: KeyRing, prefix: str):
    """The token re-sealed to the primary key, or None when there is nothing to do."""
    if not isinstance(token, str) or token.startswith(prefix) or _kid(token) == "(not encrypted)":
        return None
    from backoffice.fields.values import value_aad

    aad = value_aad(spec, uid)
    return keyring.encrypt(keyring.decrypt(token, aad), aad)


def _batches(engine, table, columns, condition, batch_size, lock=True) -> Iterator[tuple]:
    """``(connection, rows)`` per batch, in primary-key order, each in its own transaction
    (rows locked on PostgreSQL while they are rewritten)."""
    pk, last = table.c.id, None
    while True:
        where = condition if last is None else and_(condition, pk > last)
        with engine.begin() as connection:
            query = select(*columns).where(where).order_by(pk).limit(batch_size)
            if lock and connection.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = connection.execute(query).mappings().all()
            if not rows:
                return
            last = rows[-1]["id"]
            yield connection, rows


def _kept_timestamps(table, values: dict) -> dict:
    for column in table.c:  # keep updated_at (onupdate) as it was: not a business change
        if column.onupdate is not None and column.name not in values:
            values[column.name] = column
    return values


def _write_unless_raced(connection, table, guard: list, values: dict, report,
                        label: str) -> None:
    """Write one re-sealed row only where ``guard`` (its id and the document as it was read)
    still holds, and count it: rewritten under ``label``, or raced when someone changed the
    row meanwhile (their write stands; a later run re-seals whatever is still on an old key)."""
    count = connection.execute(update(table).where(*guard).values(values)).rowcount
    report.rewritten[label] += count
    report.raced += 1 - count


def rotate_custom_fields(engine, keyring: KeyRing, metadata, specs_by_table, report,
                         batch_size: int = 500,
                         progress: Callable[[str, int, int], None] | None = None) -> None:
    """Re-seal every sensitive custom value to the primary key; counts go into ``report``."""
    prefix = keyring.prefix()
    for table_name, specs in specs_by_table.items():
        table = metadata.tables.get(table_name)
        if table is None or STORAGE not in table.c:
            continue
        label = f"{table_name}.{STORAGE}"
        report.rewritten.setdefault(label, 0)
        uid_col = _uid_column(table)
        has_version = "version" in table.c
        columns = [table.c.id, uid_col.label("_uid"), cast(table.c[STORAGE], Text).label("_doc")]
        if has_version:
            columns.append(table.c.version)
        done = 0
        for connection, rows in _batches(engine, table, columns, _candidates(table, specs),
                                         batch_size):
            for row in rows:
                document = json.loads(row["_doc"]) if row["_doc"] else {}
                changed = False
                for spec in specs:
                    new = _reseal(spec, document.get(spec.key), row["_uid"], keyring, prefix)
                    if new is not None:
                        document[spec.key] = new
                        changed = True
                if not changed:
                    continue
                guard = [table.c.id == row["id"],
                         cast(table.c[STORAGE], Text) == bindparam("_old", row["_doc"])]
                if has_version:
                    guard.append(table.c.version == row["version"])
                _write_unless_raced(connection, table, guard,
                                    _kept_timestamps(table, {STORAGE: document}), report, label)
            done += len(rows)
            if progress:
                progress(label, done, done)


def _payload_custom(keyring: KeyRing, row) -> tuple[dict, dict]:
    """The request's decrypted values and their ``custom_fields`` document."""
    from models.review import PAYLOAD

    values = json.loads(keyring.decrypt(row["payload"], PAYLOAD.aad(row["record_uid"])))
    return values, values.get(STORAGE) or {}


def _customer_uids(connection, metadata, rows) -> dict:
    """The record uids of the customers a batch of update requests targets (one query)."""
    ids = {row["customer_id"] for row in rows if row["customer_id"] is not None}
    if not ids:
        return {}
    customer = metadata.tables["customer"]
    return dict(connection.execute(select(customer.c.id, customer.c.record_uid).where(
        customer.c.id.in_(ids))).all())


def _request_uid(row, customer_uids: dict):
    """The uid the payload's sealed values are bound to: the customer's for an update, the
    request's own for a creation (the customer approval creates takes that uid)."""
    if row["kind"] == "update" and row["customer_id"] in customer_uids:
        return customer_uids[row["customer_id"]]
    return row["record_uid"]


def rotate_requests(engine, keyring: KeyRing, metadata, specs_by_table, report,
                    batch_size: int = 500,
                    progress: Callable[[str, int, int], None] | None = None) -> None:
    """Re-seal the sensitive custom values inside change-request payloads (every status: a
    decided request's payload is still shown in its history)."""
    from models.review import PAYLOAD

    table = metadata.tables.get(REQUESTS)
    specs = specs_by_table.get("customer") or []
    if table is None or not specs:
        return
    prefix = keyring.prefix()
    label = f"{REQUESTS}.payload.{STORAGE}"
    report.rewritten.setdefault(label, 0)
    columns = [table.c.id, table.c.record_uid, table.c.kind, table.c.customer_id,
               table.c.payload, table.c.version]
    condition = cast(table.c.fields, Text).like(f"%{STORAGE}%")
    done = 0
    for connection, rows in _batches(engine, table, columns, condition, batch_size):
        customer_uids = _customer_uids(connection, metadata, rows)
        for row in rows:
            values, document = _payload_custom(keyring, row)
            uid = _request_uid(row, customer_uids)
            changed = False
            for spec in specs:
                new = _reseal(spec, document.get(spec.key), uid, keyring, prefix)
                if new is not None:
                    document[spec.key] = new
                    changed = True
            if not changed:
                continue
            values[STORAGE] = document
            plaintext = json.dumps(values, ensure_ascii=False, sort_keys=True)
            payload = keyring.encrypt(plaintext, PAYLOAD.aad(row["record_uid"]))
            guard = [table.c.id == row["id"], table.c.payload == row["payload"],
                     table.c.version == row["version"]]
            _write_unless_raced(connection, table, guard, {"payload": payload}, report, label)
        done += len(rows)
        if progress:
            progress(label, done, done)


def register() -> None:
    """Join ``flask crm keys rotate`` and ``keys status`` (called by the fields feature's
    ``register``)."""
    key_rotation.register(STORAGE, rotate, status)


def rotate(engine, keyring: KeyRing, metadata, report, batch_size: int = 500,
           progress=None) -> None:
    """Both passes (called by ``keys.rotate`` after the registered columns)."""
    specs_by_table = sensitive_specs(engine)
    rotate_custom_fields(engine, keyring, metadata, specs_by_table, report, batch_size, progress)
    rotate_requests(engine, keyring, metadata, specs_by_table, report, batch_size, progress)


def status(engine, keyring: KeyRing, metadata, batch_size: int = 1000) -> dict[str, dict]:
    """Values per key id: ``{"customer.custom_fields.<key>": {kid: n}}`` and
    ``{"change_request.payload.custom_fields.<key>": {kid: n}}``; every configured key id is
    listed (0 when unused), unknown ones too, so an operator sees what still needs an old key."""
    specs_by_table = sensitive_specs(engine)
    result: dict[str, dict] = {}

    def count(name, token):
        counts = result.setdefault(name, {kid: 0 for kid in keyring.kids})
        if token is not None:
            kid = _kid(token)
            counts[kid] = counts.get(kid, 0) + 1

    for table_name, specs in specs_by_table.items():
        table = metadata.tables.get(table_name)
        if table is None or STORAGE not in table.c:
            continue
        for spec in specs:
            count(f"{table_name}.{spec.storage_path}", None)
        columns = [table.c.id, cast(table.c[STORAGE], Text).label("_doc")]
        for _connection, rows in _batches(engine, table, columns, _candidates(table, specs),
                                          batch_size, lock=False):
            for row in rows:
                document = json.loads(row["_doc"]) if row["_doc"] else {}
                for spec in specs:
                    count(f"{table_name}.{spec.storage_path}", document.get(spec.key))
    table = metadata.tables.get(REQUESTS)
    specs = specs_by_table.get("customer") or []
    if table is not None and specs:
        for spec in specs:
            count(f"{REQUESTS}.payload.{spec.storage_path}", None)
        columns = [table.c.id, table.c.record_uid, table.c.payload]
        condition = cast(table.c.fields, Text).like(f"%{STORAGE}%")
        for _connection, rows in _batches(engine, table, columns, condition, batch_size,
                                              lock=False):
            for row in rows:
                try:
                    _values, document = _payload_custom(keyring, row)
                except crypto.DecryptionError:
                    continue  # the payload's own key is reported under change_request.payload
                for spec in specs:
                    count(f"{REQUESTS}.payload.{spec.storage_path}", document.get(spec.key))
    return result
