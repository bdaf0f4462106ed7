"""The hash chain: canonical row encoding, the serialised append, and verification.

Every row's hash covers all of its fields and the previous row's hash, so changing, removing or
swapping any row breaks the chain exactly there. Appends are serialised so that two writers can
never read the same head and fork the chain: every append first updates the one-row
``audit_head`` table, which takes a row lock on PostgreSQL and the database write lock on SQLite,
and reads the head under that lock. The lock lasts until the writing transaction ends, so the head
read under it stays the head, and id order is chain order.

This module speaks Core SQL on a ``Connection`` only: it is called from inside ORM flushes, where
the ORM itself must not be re-entered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, bindparam, select, text

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


def compute_hash(row_id: int, row: dict, prev_hash: str) -> str:
    """SHA-256 over the canonical encoding of the row's id, fields and the previous hash.

    The encoding is the JSON array ``[id, prev_hash, field, ...]`` without whitespace, i.e.
    ``"[" + id + "," + "\"prev_hash\"" + "," + fields_json(row)``; ``append_autocommit`` has
    PostgreSQL build the very same text around ``fields_json`` once it holds the head.
    """
    payload = f"[{int(row_id)},{json.dumps(prev_hash)},{fields_json(row)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


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
    last_id, last_hash = lock_head(connection)
    inserted = []
    for row in rows:
        last_id += 1
        values = {name: row.get(name) for name in FIELDS}
        values["id"] = last_id
        values["prev_hash"] = last_hash
        values["row_hash"] = last_hash = compute_hash(last_id, values, last_hash)
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


_APPEND_AUTOCOMMIT_PG = text(
    """
    WITH old AS (
        SELECT last_id, last_hash FROM audit_head WHERE id = :head FOR UPDATE
    ), moved AS (
        UPDATE audit_head
        SET last_id = old.last_id + 1,
            last_hash = encode(sha256(convert_to(
                '[' || (old.last_id + 1)::text || ',"' || old.last_hash || '",' || :tail,
                'UTF8')), 'hex')
        FROM old WHERE audit_head.id = :head
        RETURNING audit_head.last_id, audit_head.last_hash, old.last_hash AS prev_hash
    )
    INSERT INTO audit_log (id, occurred_at, actor_id, actor_username, actor_roles, ip,
                           user_agent, action, entity, entity_id, customer_id, detail,
                           prev_hash, row_hash)
    SELECT moved.last_id, :occurred_at, :actor_id, :actor_username, :actor_roles, :ip,
           :user_agent, :action, :entity, :entity_id, :customer_id, :detail,
           moved.prev_hash, moved.last_hash
    FROM moved
    RETURNING id, prev_hash, row_hash
    """
).bindparams(bindparam("occurred_at", type_=DateTime()), bindparam("actor_id", type_=Integer()),
             bindparam("customer_id", type_=Integer()))


def append_autocommit(engine, row: dict) -> dict | None:
    """Chain and commit one row in a single statement (PostgreSQL); None if it cannot.

    For rows that join no business transaction (reads, logins, exports). The statement locks
    the head (``FOR UPDATE``: a concurrent writer waits and then reads the head its predecessor
    committed), has the database compute the row's hash from the head it holds (the same text
    ``compute_hash`` hashes: ``fields_json`` is made here), moves the head and inserts the row,
    and commits: the lock lasts one statement and its commit, not three round trips. Returns
    None when the head row does not exist yet (a fresh log): the caller then uses ``append``,
    which creates it.
    """
    values = {name: row.get(name) for name in FIELDS}
    values["tail"] = fields_json(values)
    values["head"] = HEAD_ID
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        found = connection.execute(_APPEND_AUTOCOMMIT_PG, values).first()
    if found is None:
        return None
    inserted = {name: row.get(name) for name in FIELDS}
    inserted.update(id=int(found[0]), prev_hash=found[1], row_hash=found[2])
    return inserted


@dataclass
class VerifyResult:
    ok: bool
    count: int
    bad_id: int | None = None
    reason: str | None = None
    first_id: int | None = None
    last_id: int | None = None


def verify(connection, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order and report the first row whose links or hash do not hold.

    The first remaining row links to genesis, or (after a purge) to the hash recorded by the
    archive that ends just before it. Ids must be consecutive: a gap is a deleted row. The walk
    ends where the recorded head says the chain ends (rows appended while it runs are walked
    too), so a removed or rewritten last row is caught as well.
    """
    walk = _Walk(connection, batch)
    failure = walk.run()
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

    def __init__(self, connection, batch):
        self.connection = connection
        self.batch = batch
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
        if row_id != self.expected_id:
            return self.fail(self.expected_id, f"row {self.expected_id} is missing (the row "
                                               f"after row {self.expected_id - 1} is {row_id})")
        if row["prev_hash"] != self.last_hash:
            return self.fail(row_id, "prev_hash does not match the previous row's hash")
        if compute_hash(row_id, row, row["prev_hash"]) != row["row_hash"]:
            return self.fail(row_id, "row_hash does not match the row's contents")
        self.count += 1
        self.last_id = row_id
        self.expected_id = row_id + 1
        self.last_hash = row["row_hash"]
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
