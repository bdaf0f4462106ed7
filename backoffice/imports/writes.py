"""Set-based writes of a chunk: many rows per statement, never one flush per row.

On PostgreSQL (psycopg 3) rows go in by ``COPY`` (ids taken from the sequence first) and large
update groups through a staging table and one ``UPDATE ... FROM`` (:mod:`.pg_copy` says why).
Elsewhere (SQLite) inserts are one multi-row INSERT per chunk (``insertmanyvalues``, RETURNING the
new ids in row order) and updates one executemany per group of rows changing the same columns. Values arrive already in storage form (sensitive fields sealed by
``models.crypto.seal_row`` with the row's ``record_uid``), so nothing is encrypted here.

Undo data goes in with the same statements' transaction (``import_row_change``), in the JSON-safe
form of :func:`to_json`; :func:`from_json` turns it back into column values for revert.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from itertools import chain
from typing import NamedTuple

from sqlalchemy import (
    Date,
    DateTime,
    Numeric,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from backoffice.imports import pg_copy
from models.imports import ImportRowChange

UNSCOPED = {"crm_unscoped": True}
_CHANGES = ImportRowChange.__table__


def to_json(value):
    """A column value as JSON data (dates ISO, Decimals as text; JSON documents as they are)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def row_json(row: Mapping) -> dict:
    return {key: to_json(value) for key, value in row.items()}


def from_json(table: Table, column: str, value):
    """The reverse of :func:`to_json` for one column of ``table``."""
    if value is None:
        return None
    kind = table.c[column].type
    if isinstance(kind, DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, Numeric):
        return Decimal(str(value))
    return value


def insert_rows(session, table: Table, rows: list[dict]) -> list[int]:
    """Insert ``rows`` (same keys each) in one statement; their new ids, in the same order."""
    if not rows:
        return []
    connection = _connection(session)
    raw = pg_copy.driver_connection(connection)
    keys = _uniform(rows)
    if raw is not None:
        return pg_copy.insert_rows(connection, raw, table, keys, rows)
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    result = connection.execute(statement, [{k: row.get(k) for k in keys} for row in rows])
    return [row[0] for row in result]


def stage_inserts(session, table: Table, columns: Mapping[str, list]
                  ) -> pg_copy.StagedCopy | None:
    """On PostgreSQL, the COPY of rows given a column at a time (``columns``: column name ->
    values, one per row) made ready on ``session`` (ids taken from the sequence, records
    built, format chosen), for :func:`insert_staged` to run on another session; None
    elsewhere or for no rows.

    Why: the import writes a chunk on one thread while it plans the next on another, and the
    writing is the longer of the two (PostgreSQL's index upkeep). Taking the ids (a round
    trip of 10,000 ``nextval``) and building the records on the planning side took about a
    fifth of each chunk's writing time off the writing side (100,000 customers: 4.2-4.6 s of
    writing, 3.4-3.6 s after). Columns, not row dicts: new customers are sealed a column at
    a time, and a dict per row built only to be taken apart again here cost 0.23-0.56 s (mean
    0.47 s) of a 100,000-customer import's CPU (four alternated pairs).
    """
    if not columns or not next(iter(columns.values())):
        return None
    connection = session.connection()
    if pg_copy.driver_connection(connection) is None:
        return None
    return pg_copy.stage_insert(connection, table, dict(columns))


def insert_staged(session, staged: pg_copy.StagedCopy) -> list[int]:
    """Insert what :func:`stage_inserts` made ready (on another session, maybe) in this
    session's transaction; the new ids, in row order."""
    pg_copy.run_copy(pg_copy.driver_connection(_connection(session)), staged)
    return staged.ids


def rows_of(columns: Mapping[str, list]) -> list[dict]:
    """Rows given a column at a time (``columns``: name -> values) as one dict per row, for
    :func:`insert_rows` where nothing was staged (SQLite)."""
    names = list(columns)
    return [dict(zip(names, record)) for record in zip(*columns.values())]


def update_rows(session, table: Table, changes: Iterable[tuple[int, dict]],
                bump_version: bool = False) -> int:
    """Apply ``(id, {column: value})`` pairs, one executemany per distinct set of columns."""
    groups: dict[tuple, list[dict]] = {}
    for row_id, values in changes:
        columns = tuple(sorted(values))
        params = {f"v_{k}": v for k, v in values.items()}
        params["row_id"] = row_id
        groups.setdefault(columns, []).append(params)
    done = 0
    connection = _connection(session)
    raw = pg_copy.driver_connection(connection)
    for columns, params in groups.items():
        if raw is not None and len(params) >= pg_copy.STAGE_MIN_ROWS:
            pg_copy.update_rows(connection, raw, table, columns, params, versioned=False,
                                bump_version=bump_version and "version" in table.c)
            done += len(params)
            continue
        values = {c: bindparam(f"v_{c}") for c in columns}
        if bump_version and "version" in table.c:
            values["version"] = table.c.version + 1
        statement = update(table).where(table.c.id == bindparam("row_id")).values(**values)
        connection.execute(statement, params)
        done += len(params)
    return done


class ConcurrentEdit(Exception):
    """A row changed between planning and writing (someone saved it meanwhile)."""


def update_versioned(session, table: Table, changes: list[tuple[int, int, dict]]) -> None:
    """Updates guarded by the version each was planned against (customers): every row must
    still be at that version, else :class:`ConcurrentEdit` (the transaction is rolled back)."""
    groups: dict[tuple, list[dict]] = {}
    for row_id, version, values in changes:
        params = {f"v_{k}": v for k, v in values.items()}
        params.update(row_id=row_id, row_version=version)
        groups.setdefault(tuple(sorted(values)), []).append(params)
    connection = _connection(session)
    raw = pg_copy.driver_connection(connection)
    for columns, params in groups.items():
        if raw is not None and len(params) >= pg_copy.STAGE_MIN_ROWS:
            count = pg_copy.update_rows(connection, raw, table, columns, params,
                                        versioned=True, bump_version=True)
        else:
            values = {c: bindparam(f"v_{c}") for c in columns}
            values["version"] = table.c.version + 1
            statement = (update(table).where(table.c.id == bindparam("row_id"),
                                             table.c.version == bindparam("row_version"))
                         .values(**values))
            count = connection.execute(statement, params).rowcount
        if count not in (-1, len(params)):
            raise ConcurrentEdit(f"{len(params) - count} {table.name} rows changed "
                                 "while the import ran")


def record_changes(session, batch_id: int, changes: list[dict]) -> None:
    """Undo rows: ``{"entity_id", "op", "row_number", "previous", "after"}`` each."""
    if not changes:
        return
    rows = [{"batch_id": batch_id, "entity_id": c["entity_id"], "op": c["op"],
             "row_number": c.get("row_number"), "previous": c.get("previous"),
             "after": c.get("after")} for c in changes]
    connection = _connection(session)
    raw = pg_copy.driver_connection(connection)
    if raw is not None:
        pg_copy.copy_rows(connection, raw, _CHANGES, list(rows[0]), rows)
        return
    connection.execute(insert(_CHANGES), rows)


def record_creates(session, batch_id: int, ids: list[int], rows: list[int],
                   after: dict) -> None:
    """Undo data of the records a chunk created (``ids``, from spreadsheet ``rows``), all with
    the same ``after``: ONE ``import_row_change`` row, ``op`` "create", ``entity_id`` the first
    id, ``after`` holding the state plus ``ids`` and ``rows`` (:func:`undo_entries` reads both
    this and the one-row-per-record form).

    Why: a created record's undo row differs from the next only by its id and row number, and
    writing 100,000 of them (each with its foreign-key check and two index entries) cost an
    import about a seventh of its time.
    """
    if not ids:
        return
    connection = _connection(session)
    connection.execute(insert(_CHANGES), {
        "batch_id": batch_id, "entity_id": ids[0], "op": "create", "row_number": rows[0],
        "previous": None, "after": {**after, "ids": list(ids), "rows": list(rows)}})


class UndoEntry(NamedTuple):
    """What one record's revert needs: which record, created or updated, from which row,
    its columns before (updates) and the state the import left it in."""

    entity_id: int
    op: str
    row_number: int | None
    previous: dict | None
    after: dict


def undo_entries(changes) -> Iterator[UndoEntry]:
    """One entry per record of ``import_row_change`` rows (either form)."""
    for change in changes:
        after = change.after or {}
        if "ids" in after:
            state = {k: v for k, v in after.items() if k not in ("ids", "rows")}
            for entity_id, row in zip(after["ids"], after["rows"]):
                yield UndoEntry(entity_id, change.op, row, None, state)
        else:
            yield UndoEntry(change.entity_id, change.op, change.row_number, change.previous,
                            after)


# Joins the texts of a lookup into one parameter; a value holding it goes as an array instead.
_SEPARATOR = "\x1f"  # ASCII unit separator


def in_values(session, column, values, params: dict | None = None):
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter however
    many values (an IN list of 10,000 placeholders costs more to parse than to run).

    Texts travel as ONE string split by the server (``string_to_array``): an array parameter
    of 20,000 strings is adapted item by item, which took a chunk's lookup about as long as
    PostgreSQL took to answer it.

    With ``params``, the value goes into that dict under the parameter's name, to be passed
    at execution, not into the statement: a statement's objects reference each other, so what
    they hold is freed only by the cycle collector, which a pass pauses (a million-row dry run
    kept 74 MiB of old chunks' keys that way).
    """
    values = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values if params is None else _parameter(values, None, params, True))
    try:
        joined = _SEPARATOR.join(values)  # TypeError unless every value is a str
    except TypeError:
        joined = None
    if joined is not None and values and joined.count(_SEPARATOR) == len(values) - 1:
        return column == any_(cast(func.string_to_array(
            _parameter(joined, Text(), params), _SEPARATOR), ARRAY(column.type)))
    return column == any_(_parameter(values, ARRAY(column.type), params))


def _parameter(value, type_, params: dict | None, expanding: bool = False):
    """A bound parameter holding ``value``, or named in ``params`` that holds it."""
    if params is None:
        return bindparam(None, value, type_=type_)
    name = f"crm_keys_{len(params)}"
    params[name] = value
    return bindparam(name, type_=type_, expanding=expanding)


def read_by_index(session, statement, params: dict | None = None):
    """Execute a lookup of a chunk's keys (``column = ANY(:array)``, see :func:`in_values`)
    with sequential scans off on PostgreSQL, then put the setting back.

    Why: the planner prices such a lookup from the table's statistics, and a customer table
    analysed while empty or small (a new installation's first import) is priced as a few
    pages, so it picks a sequential scan that compares every row with every key. The rows an
    import inserts in its own transaction make that table grow under the same plan: each
    chunk's lookup scans all the rows before it, times the chunk's keys (seen: 5.6 s for one
    chunk at 30,000 rows, an import falling from 10,000 to 400 rows/s; psycopg's prepared
    statements keep such a generic plan for later imports on the connection). The looked-up
    columns are indexed, and a chunk's keys are few beside the table: the index is the way in.
    """
    if session.get_bind().dialect.name != "postgresql":
        return session.execute(statement, params or {})
    previous = session.execute(text(
        "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
    )).scalar()
    try:
        return session.execute(statement, params or {})
    finally:
        session.execute(text("SELECT set_config('enable_seqscan', :value, true)"),
                        {"value": previous})


def _connection(session):
    """The session's connection, noted as written: the operation-log row that summarises the
    batch must then join this transaction (``backoffice.audit.log``), not wait for its lock."""
    from backoffice.audit.log import DIRTY_KEY

    session.info[DIRTY_KEY] = True
    return session.connection()


def _uniform(rows: list[dict]) -> list[str]:
    """Every key of ``rows``, in first-seen order."""
    return list(dict.fromkeys(chain.from_iterable(rows)))
