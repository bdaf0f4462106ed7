"""The hash chain: canonical row encoding, the keyed hash, the serialised append, verification.

Every row's hash covers all of its fields and the previous row's hash, so changing, removing or
swapping any row breaks the chain exactly there. The hash is an HMAC-SHA256 under the chain key
(``backoffice.audit.chain_key``), which is kept outside the database. Appends are serialised so
that two writers can never read the same head and fork the chain: every append first updates the
one-row ``audit_head`` table, which takes a row lock on PostgreSQL and the database write lock on
SQLite, and reads the head under that lock. The lock lasts until the writing transaction ends, so
the head read under it stays the head, and id order is chain order. The hash is computed here, in
the application, never by the database: the key must not travel to the database server, where
statement logging could capture it.

Threat model. The log defends against someone who can read and write the database without
restraint (a DBA, a database superuser, a stolen backup restored and edited) but who holds
neither the chain key nor the checkpoint folder: the PostgreSQL triggers refuse UPDATE, DELETE
and TRUNCATE to ordinary roles, and a superuser who switches them off and edits, inserts,
deletes or reorders rows cannot recompute the keyed hashes, so ``flask crm audit verify`` names
the first row touched; deleting rows from the front is accepted only behind a purge that the
(keyed) chain itself records. What a key-less attacker can still do is cut rows off the *end* of
the log and move the head back: the chain alone cannot tell a shorter log from a younger one, so
``flask crm audit checkpoint`` writes signed (row id, hash, time) heads to a folder outside the
database (``CRM_AUDIT_CHECKPOINT_DIR``, best on storage the DBA cannot write, e.g. write-once or
another team's), and ``verify`` fails when a checkpointed row no longer matches or has vanished;
only rows written after the newest checkpoint are exposed, so checkpoints are taken often (cron).
Out of scope: whoever holds the chain key *and* the database (an application-server
administrator) can forge the whole log and new checkpoints; an attacker holding the key but not
the checkpoint folder can still not rewrite rows at or below a checkpoint unnoticed.

This module speaks Core SQL on a ``Connection`` only: it is called from inside ORM flushes, where
the ORM itself must not be re-entered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from models.audit import AuditArchive, AuditHead, AuditLog

GENESIS = "0" * 64
HEAD_ID = 1

log_table = AuditLog.__table__
archive_table = AuditArchive.__table__
head_table = AuditHead.__table__

# The hashed fields, in hashing order (id and both hashes are handled separately).
FIELDS = (
    "occurred_at", "actor_id", "actor_username", "actor_roles", "ip", "user_agent",
    "action", "entity", "entity_id", "customer_id", "detail",
)


def canonical_json(value) -> str | None:
    """JSON text that is the same for equal values: sorted keys, no whitespace, UTF-8 kept."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)  # Decimal, UUID, enums: their text form


def time_text(value: dt.datetime) -> str:
    """A timestamp as hashed: naive UTC to the microsecond, which both databases keep exactly."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def compute_hash(row_id: int, row: dict, prev_hash: str, key: bytes | None = None) -> str:
    """HMAC-SHA256, under the chain key (the app's when ``key`` is None), of the canonical
    encoding of the row's id, fields and the previous hash.

    The encoding is the JSON array ``[id, prev_hash, field, ...]`` without whitespace, i.e.
    ``"[" + id + "," + "\"prev_hash\"" + "," + fields_json(row)``.
    """
    mac = _keyed(key if key is not None else _app_key()).copy()
    mac.update(_payload(row_id, row, prev_hash))
    return mac.hexdigest()


def unkeyed_hash(row_id: int, row: dict, prev_hash: str) -> str:
    """The plain SHA-256 the log used before it was keyed (and what anyone can compute): read
    by the migration that re-seals old chains, and by tests playing the key-less forger."""
    return hashlib.sha256(_payload(row_id, row, prev_hash)).hexdigest()


def hasher(key: bytes | None = None) -> Callable[[int, dict, str], str]:
    """``compute_hash`` bound to one key (looked up once, not per row)."""
    key = key if key is not None else _app_key()
    return lambda row_id, row, prev_hash: compute_hash(row_id, row, prev_hash, key)


def _payload(row_id: int, row: dict, prev_hash: str) -> bytes:
    return f"[{int(row_id)},{json.dumps(prev_hash)},{fields_json(row)}".encode("utf-8")


_MACS: dict[bytes, hmac.HMAC] = {}


def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC primed with the key (copied per row: the key schedule is done once)."""
    primed = _MACS.get(key)
    if primed is None:
        if len(_MACS) > 8:
            _MACS.clear()
        primed = _MACS[key] = hmac.new(key, digestmod=hashlib.sha256)
    return primed


def _app_key() -> bytes:
    from backoffice.audit.chain_key import current_key

    return current_key()


def fields_json(row: dict) -> str:
    """The hashed fields as the tail of the JSON array: ``v1,v2,...,vN]``."""
    values = []
    for name in FIELDS:
        value = row.get(name)
        if name == "occurred_at":
            value = time_text(value)
        elif name in ("actor_id", "customer_id") and value is not None:
            value = int(value)
        elif value is not None:
            value = str(value)
        values.append(value)
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)[1:]


# Statements built once, with bound parameters only, so SQLAlchemy compiles each one once.
_MOVE_HEAD = (head_table.update().where(head_table.c.id == HEAD_ID)
              .values(last_id=bindparam("head_id"), last_hash=bindparam("head_hash")))
_APPEND_ONE_PG = _MOVE_HEAD.add_cte(
    log_table.insert()
    .values({name: bindparam(f"v_{name}") for name in ("id", *FIELDS, "prev_hash", "row_hash")})
    .returning(log_table.c.id).cte("appended"))
_LOCK_HEAD = (head_table.update().where(head_table.c.id == HEAD_ID)
              .values(last_id=head_table.c.last_id)
              .returning(head_table.c.last_id, head_table.c.last_hash))


def lock_head(connection) -> tuple[int, str]:
    """Lock the chain head for the rest of the transaction and return its (last id, last hash).

    One statement does both: an UPDATE takes the head row's lock (PostgreSQL: a row lock, and
    under READ COMMITTED a waiting writer re-reads the row its predecessor committed; SQLite: the
    database write lock), and RETURNING reads the head under that lock.
    """
    row = connection.execute(_LOCK_HEAD).first()
    if row is None:
        last_id, last_hash = _head_from_rows(connection)
        connection.execute(head_table.insert().values(id=HEAD_ID, last_id=last_id,
                                                      last_hash=last_hash))
        return last_id, last_hash
    return int(row[0]), row[1]


def _head_from_rows(connection) -> tuple[int, str]:
    """The head as the rows show it: the newest row, else the newest archive, else genesis."""
    last = connection.execute(
        select(log_table.c.id, log_table.c.row_hash).order_by(log_table.c.id.desc()).limit(1)
    ).first()
    if last is not None:
        return int(last[0]), last[1]
    archived = connection.execute(
        select(archive_table.c.last_id, archive_table.c.last_hash)
        .order_by(archive_table.c.last_id.desc()).limit(1)
    ).first()
    if archived is not None:
        return int(archived[0]), archived[1]
    return 0, GENESIS


def append(connection, rows: list[dict]) -> list[dict]:
    """Chain and insert ``rows`` (dicts of FIELDS) inside the connection's transaction.

    The caller owns the transaction: commit it soon, since the chain lock is held until then.
    Returns the inserted rows with ``id``, ``prev_hash`` and ``row_hash`` filled in.
    """
    if not rows:
        return []
    seal = hasher()
    last_id, last_hash = lock_head(connection)
    inserted = []
    for row in rows:
        last_id += 1
        values = {name: row.get(name) for name in FIELDS}
        values["id"] = last_id
        values["prev_hash"] = last_hash
        values["row_hash"] = last_hash = seal(last_id, values, last_hash)
        inserted.append(values)
    if len(inserted) == 1 and connection.dialect.name == "postgresql":
        # One round trip: the row goes in through a data-modifying CTE of the head update.
        params = {f"v_{name}": value for name, value in inserted[0].items()}
        connection.execute(_APPEND_ONE_PG, {**params, "head_id": last_id,
                                            "head_hash": last_hash})
    else:
        connection.execute(log_table.insert(), inserted if len(inserted) > 1 else inserted[0])
        connection.execute(_MOVE_HEAD, {"head_id": last_id, "head_hash": last_hash})
    return inserted


@dataclass
class VerifyResult:
    ok: bool
    count: int
    bad_id: int | None = None
    reason: str | None = None
    first_id: int | None = None
    last_id: int | None = None


def verify(connection, batch: int = 5000, hash_row=None) -> VerifyResult:
    """Walk the chain in id order and report the first row whose links or hash do not hold.

    The first remaining row links to genesis, or (after a purge) to the hash recorded by the
    archive that ends just before it, and then the chain must hold the ``audit_purge`` row of
    that archive (an archive record alone is database data anyone could forge, the keyed purge
    row is not). Ids must be consecutive: a gap is a deleted row. The walk ends where the
    recorded head says the chain ends (rows appended while it runs are walked too), so a
    removed or rewritten last row is caught as well. ``hash_row`` is the hash to check with
    (default: the app's keyed hash).
    """
    walk = _Walk(connection, batch, hash_row or hasher())
    failure = walk.run()
    if failure:
        return failure
    failure = walk.purge_evidence()
    if failure:
        return failure
    while True:
        recorded = connection.execute(
            select(head_table.c.last_id, head_table.c.last_hash)
            .where(head_table.c.id == HEAD_ID)
        ).first()
        if recorded is None:
            if walk.count == 0:
                return VerifyResult(True, 0)
            return walk.fail(walk.last_id, "the chain head record is missing")
        head_id, head_hash = int(recorded[0]), recorded[1]
        if walk.count == 0:
            end_id, _end_hash = _head_from_rows(connection)
            if head_id != end_id:
                return walk.fail(end_id + 1, f"row {end_id + 1} is missing: the log is empty "
                                             f"but its head is row {head_id}")
            return VerifyResult(True, 0)
        if head_id > walk.last_id:
            before = walk.last_id
            failure = walk.run()  # appended meanwhile?
            if failure:
                return failure
            if walk.last_id == before:
                return walk.fail(before + 1, f"row {before + 1} is missing: the chain ends at "
                                             f"row {before} but its head is row {head_id}")
            continue
        if head_id < walk.last_id:
            return walk.fail(head_id + 1, f"row {head_id + 1} was not appended by the log "
                                          f"writer: the recorded head is row {head_id}")
        if head_hash != walk.last_hash:
            return walk.fail(walk.last_id, "the row's hash differs from the recorded head")
        return VerifyResult(True, walk.count, None, None, walk.first_id, walk.last_id)


class _Walk:
    """The chain check, resumable: ``run`` continues after the last row it checked."""

    def __init__(self, connection, batch, hash_row):
        self.connection = connection
        self.batch = batch
        self.hash_row = hash_row
        self.purged_up_to = None  # the archive the chain starts behind, if it does
        self.columns = [log_table.c.id, *(log_table.c[name] for name in FIELDS),
                        log_table.c.prev_hash, log_table.c.row_hash]
        self.count = 0
        self.first_id = self.last_id = None
        self.expected_id = self.last_hash = None

    def fail(self, bad_id, reason) -> VerifyResult:
        return VerifyResult(False, self.count, bad_id, reason, self.first_id, self.last_id)

    def run(self) -> VerifyResult | None:
        while True:
            query = select(*self.columns).order_by(log_table.c.id).limit(self.batch)
            if self.last_id is not None:
                query = query.where(log_table.c.id > self.last_id)
            chunk = self.connection.execute(query).mappings().all()
            if not chunk:
                return None
            for row in chunk:
                failure = self._check(row)
                if failure:
                    return failure

    def _check(self, row) -> VerifyResult | None:
        row_id = int(row["id"])
        if self.last_hash is None:
            self.first_id = row_id
            self.expected_id, self.last_hash, why = _start_of_chain(self.connection, row_id)
            if why:
                return self.fail(self.expected_id, why)
            if row_id > 1:
                self.purged_up_to = row_id - 1
        if self.purged_up_to is not None and row["action"] == "audit_purge":
            if _purged_last_id(row["detail"]) == self.purged_up_to:
                self.purged_up_to = None  # the purge that removed the rows before is on record
        if row_id != self.expected_id:
            return self.fail(self.expected_id, f"row {self.expected_id} is missing (the row "
                                               f"after row {self.expected_id - 1} is {row_id})")
        if row["prev_hash"] != self.last_hash:
            return self.fail(row_id, "prev_hash does not match the previous row's hash")
        if self.hash_row(row_id, row, row["prev_hash"]) != row["row_hash"]:
            return self.fail(row_id, "row_hash does not match the row's contents")
        self.count += 1
        self.last_id = row_id
        self.expected_id = row_id + 1
        self.last_hash = row["row_hash"]
        return None


    def purge_evidence(self) -> VerifyResult | None:
        if self.purged_up_to is None:
            return None
        return self.fail(self.first_id, (
            f"rows up to {self.purged_up_to} are gone, but no purge of them is on record in "
            f"the log (an archive record without its audit_purge row)"))


def _purged_last_id(detail) -> int | None:
    try:
        return int(json.loads(detail)["last_id"])
    except (TypeError, ValueError, KeyError):
        return None


def _start_of_chain(connection, first_id: int) -> tuple[int, str, str | None]:
    """Where the remaining chain must start: genesis at id 1, or the archive ending before it.

    When neither fits, rows were removed from the front without an archive: the first of them
    (right after the last archive, or row 1) is the bad row.
    """
    if first_id == 1:
        return 1, GENESIS, None
    archived = connection.execute(
        select(archive_table.c.last_id, archive_table.c.last_hash)
        .where(archive_table.c.last_id < first_id)
        .order_by(archive_table.c.last_id.desc()).limit(1)
    ).first()
    if archived is not None and int(archived[0]) == first_id - 1:
        return first_id, archived[1], None
    missing_from = int(archived[0]) + 1 if archived is not None else 1
    return missing_from, GENESIS, (
        f"row {missing_from} is missing: the log starts at row {first_id}, and rows "
        f"{missing_from}..{first_id - 1} are in no archive")
