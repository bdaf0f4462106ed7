"""PostgreSQL bulk paths for the import writes: ``COPY`` instead of big multi-row statements.

Why: a multi-row ``INSERT ... VALUES (...), (...) RETURNING id`` of a 5,000-row chunk is a
query text with ~150,000 placeholders, and psycopg re-parses that text on every execution (its
query splitter was 60 % of an import's time in the profile). ``COPY ... FROM STDIN`` streams the
rows with no query text at all, at the speed of the physical limit:

* inserts: the new ids are taken from the table's sequence first (one ``nextval`` over
  ``generate_series``), so the rows, their undo rows and the caller all know them without
  ``RETURNING``; the rows are then copied with their ids;
* in binary format when the values allow it (:func:`binary_types`), else in text format;
* updates: the changed columns are copied into a temporary staging table shaped like the target
  (``CREATE TEMP TABLE ... AS SELECT ... WITH NO DATA`` keeps the column types), then applied by
  one ``UPDATE ... FROM`` joined on the id (and on the version the plan was made against).

Everything runs on the session's own connection, inside its transaction: a rollback (atomic mode,
a killed worker) takes the copied rows with it. Python-side column defaults (``default=`` on the
model: ``created_at``, ``record_uid``...) are applied here, as SQLAlchemy's INSERT would have.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter

from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from sqlalchemy import JSON, Boolean, Table, text

# Below this many rows an executemany is cheaper than a staging table's catalog work.
STAGE_MIN_ROWS = 50


def driver_connection(connection):
    """The psycopg 3 connection under a SQLAlchemy connection, or None (SQLite, psycopg2)."""
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    return connection.connection.driver_connection


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _converters(connection, table: Table, columns: list[str]) -> list:
    """Per column, what turns a Python value into what COPY takes, or None (as it is).

    JSON documents become their JSON text (COPY parses it as json/jsonb, as an INSERT would);
    booleans, numbers, text, dates and Decimals are written by psycopg as they are; any other
    type keeps the dialect's own bind processor.
    """
    dialect = connection.dialect
    serializer = getattr(dialect, "_json_serializer", None) or json.dumps
    converters = []
    for name in columns:
        kind = table.c[name].type.dialect_impl(dialect)
        if isinstance(kind, JSON):
            converters.append(_json_text(serializer))
        elif isinstance(kind, Boolean):
            converters.append(None)
        else:
            converters.append(kind.bind_processor(dialect))
    return converters


def _json_text(serializer):
    """``serializer`` for a column's documents, remembering the last one: the undo rows of
    created records share one ``after`` document, and new customers mostly an empty one."""
    last = [None, None]

    def convert(value):
        if value is last[0]:
            return last[1]
        if type(value) is dict and not value:
            return "{}"
        text = serializer(value)
        last[0], last[1] = value, text  # the reference is held: identity stays meaningful
        return text

    return convert


def _defaults(table: Table, given: list[str]) -> tuple[list[str], list]:
    """Columns the rows leave out that have a Python-side insert default, and the defaults."""
    names, defaults = [], []
    for column in table.c:
        if column.name in given or column.primary_key or column.default is None:
            continue
        default = column.default
        if not (default.is_scalar or default.is_callable):
            continue  # a Sequence or SQL expression: the server applies it
        names.append(column.name)
        defaults.append(default)
    return names, defaults


def new_ids(connection, table: Table, count: int) -> list[int]:
    """``count`` fresh ids from the table's id sequence, ascending (one round trip).

    The sequence is looked up once (``MATERIALIZED``): a CTE used once is otherwise inlined,
    and ``pg_get_serial_sequence`` (a catalog search) then ran for every id; 10,000 ids took
    the server 30-50 ms that way, 5-8 ms this way.
    """
    ids = connection.execute(text(
        "WITH s AS MATERIALIZED (SELECT CAST(pg_get_serial_sequence(:t, 'id') AS regclass) "
        "AS seq) "
        "SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, :n)"),
        {"t": table.name, "n": count}).scalar()  # one array value: no per-row fetch
    return sorted(ids)


@dataclass
class StagedCopy:
    """A COPY made ready before it runs: the statement, the rows as COPY records, the binary
    format's types (None: text format), and the ids taken for the rows (inserts)."""

    statement: str
    records: list[tuple]
    types: list[int] | None
    ids: list[int] | None = None


def columns_of(keys: list[str], rows: list[dict]) -> dict[str, list]:
    """``rows`` (dicts) a column at a time: per key, its values in row order (None where a row
    leaves it out). One C-level pass a column (``itemgetter``), no Python call per row."""
    columns = {}
    for key in keys:
        try:  # rows of one target mostly carry every key
            columns[key] = list(map(itemgetter(key), rows))
        except KeyError:
            columns[key] = [row.get(key) for row in rows]
    return columns


def stage_rows(connection, table: Table, keys: list[str], rows: list[dict],
               ids: list[int] | None = None) -> StagedCopy:
    """:func:`stage_columns` of ``rows`` (values for ``keys``; missing keys are NULL)."""
    return stage_columns(connection, table, columns_of(keys, rows), ids, len(rows))


def stage_columns(connection, table: Table, given: dict[str, list],
                  ids: list[int] | None = None, count: int | None = None) -> StagedCopy:
    """The COPY into ``table`` of rows given a column at a time (``given``: column name ->
    its values, one per row, every list as long), with ``ids``, made ready for
    :func:`run_copy`: Python-side defaults filled, records built, format chosen. ``count``:
    the number of rows, when neither ``given`` nor ``ids`` says it.

    In PostgreSQL's binary format when every value has the Python type its column's binary
    form is made from (:func:`binary_types`), else in text format, as before. ``connection``
    is used only to read the column types: it may be another connection than the one that
    will copy (the import stages a chunk on its reading session while the chunk before is
    being written).
    """
    extra, defaults = _defaults(table, list(given))
    columns = (["id"] if ids is not None else []) + list(given) + extra
    converters = _converters(connection, table, columns)
    if count is None:
        count = len(ids) if ids is not None else len(next(iter(given.values()), ()))
    # Columns first, then zipped into records: the binary check below runs over the same
    # column lists, and a column of new customers arrives as one list already.
    values = ([list(ids)] if ids is not None else []) + list(given.values())
    for default in defaults:
        if default.is_scalar:
            values.append([default.arg] * count)
        else:  # SQLAlchemy wraps fn() as fn(context)
            values.append([default.arg(None) for _ in range(count)])
    for position, function in enumerate(converters):
        if function is not None:
            values[position] = [None if value is None else function(value)
                                for value in values[position]]
    types = binary_types(connection, table, columns, values)
    records = list(zip(*values))
    statement = (f"COPY {_quoted(table.name)} ({', '.join(_quoted(c) for c in columns)}) "
                 f"FROM STDIN{' WITH (FORMAT BINARY)' if types else ''}")
    return StagedCopy(statement, records, types, ids)


def run_copy(raw, staged: StagedCopy) -> None:
    """Stream a staged COPY on the psycopg connection ``raw`` (in its transaction)."""
    with raw.cursor() as cursor:
        if staged.types:
            for dumper in _JSON_TEXT_DUMPERS:
                cursor.adapters.register_dumper(None, dumper)
        with cursor.copy(staged.statement) as copy:
            if staged.types:
                copy.set_types(staged.types)
            write = copy.write_row
            for values in staged.records:
                write(values)


def copy_rows(connection, raw, table: Table, keys: list[str], rows: list[dict],
              ids: list[int] | None = None) -> None:
    """``COPY table`` the ``rows`` (see :func:`stage_rows`) at once on ``raw``."""
    run_copy(raw, stage_rows(connection, table, keys, rows, ids))


# Binary COPY: per server type, the Python types whose values psycopg's binary dumper for that
# type takes, and, where the type alone does not say, what each value must also be.
_OID = {name: pg_types[name].oid for name in (
    "int2", "int4", "int8", "text", "varchar", "bool", "date", "timestamp", "timestamptz",
    "numeric", "float8", "json", "jsonb")}
_BINARY_FROM = {_OID[name]: accepted for names, accepted in (
    (("int2", "int4", "int8"), {int}),
    (("text", "varchar"), {str}),
    (("json", "jsonb"), {str}),  # the document's text (see _converters)
    (("bool",), {bool}),
    (("date",), {dt.date}),
    (("timestamp", "timestamptz"), {dt.datetime}),  # naive / aware: checked below
    (("numeric",), {Decimal}),  # finite values only
    (("float8",), {float}),
) for name in names}
_EACH_VALUE = {
    _OID["timestamp"]: lambda value: value.tzinfo is None,
    _OID["timestamptz"]: lambda value: value.tzinfo is not None,
    _OID["numeric"]: lambda value: value.is_finite(),
}


def binary_types(connection, table: Table, columns: list[str], values: list[list]):
    """The server type oids of ``columns`` when their ``values`` (one list per column) can be
    copied in binary format; None when some value cannot (a column of another type, a value
    of another Python type).

    Why: in text format every value is written as text by the client and parsed back by the
    server. Binary is the values' own representation: a 10,000-customer chunk took the
    client a third of the time to write and the server less to read (measured: 100,000
    customers, 0.6-0.75 s of client CPU in text format, 0.25 s in binary). Binary COPY has no
    casts, so a value must be exactly of its column's type; the check is made before the COPY
    starts, so a file whose values are not (a text in a date column) is copied in text format
    and fails or succeeds exactly as it did.
    """
    oids = server_types(connection, table)
    types = [oids.get(column) for column in columns]
    for oid, column in zip(types, values):
        accepted = _BINARY_FROM.get(oid)
        if accepted is None:
            return None
        found = set(map(type, column))
        found.discard(type(None))
        if not found <= accepted:
            return None
        check = _EACH_VALUE.get(oid)
        if check is not None and not all(check(value) for value in set(column)
                                         if value is not None):  # each distinct value once
            return None
    return types


def server_types(connection, table: Table) -> dict[str, int]:
    """Column name -> type oid of ``table`` as the database has it (one catalog query)."""
    found = connection.execute(text(
        "SELECT attname, CAST(atttypid AS integer) FROM pg_attribute "
        "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"),
        {"t": _quoted(table.name)})
    return dict(found.all())


class _JsonTextBinary(Dumper):
    """A json document already serialised (``_converters``), in binary form: its text."""

    format = Format.BINARY
    oid = _OID["json"]

    def dump(self, obj):
        return obj.encode()


class _JsonbTextBinary(Dumper):
    """A jsonb document already serialised, in binary form: version 1, then its text."""

    format = Format.BINARY
    oid = _OID["jsonb"]

    def dump(self, obj):
        return b"\x01" + obj.encode()


_JSON_TEXT_DUMPERS = (_JsonTextBinary, _JsonbTextBinary)


def insert_rows(connection, raw, table: Table, keys: list[str], rows: list[dict]) -> list[int]:
    """Insert ``rows`` by COPY; their new ids in row order."""
    staged = stage_insert(connection, table, columns_of(keys, rows))
    run_copy(raw, staged)
    return staged.ids


def stage_insert(connection, table: Table, columns: dict[str, list]) -> StagedCopy:
    """An insert of rows given a column at a time made ready (:func:`stage_columns`), with
    new ids from the table's sequence taken on ``connection``: ``nextval`` is outside any
    transaction, so the ids are the rows' own whichever connection copies them (and unused
    if the copy never runs, as after any rollback)."""
    count = len(next(iter(columns.values()), ()))
    return stage_columns(connection, table, columns, new_ids(connection, table, count))


def update_rows(connection, raw, table: Table, columns: tuple[str, ...], params: list[dict],
                versioned: bool, bump_version: bool) -> int:
    """Apply one group of updates (same changed ``columns``) through a staging table.

    ``params`` are ``{"row_id", "row_version"?, "v_<column>"...}`` as the executemany form has
    them. Returns the number of rows updated (a versioned update skips rows whose version moved).
    """
    stage = f"crm_stage_{uuid.uuid4().hex[:16]}"
    keys = ["id"] + (["version"] if versioned else []) + list(columns)
    select_list = ", ".join(_quoted(c) for c in dict.fromkeys(keys))
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {select_list} "
        f"FROM {_quoted(table.name)} WITH NO DATA")
    names = ["id", *(["version"] if versioned else []), *columns]
    converters = _converters(connection, table, names)
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {stage} ({', '.join(_quoted(c) for c in names)}) FROM STDIN") as copy:
        for param in params:
            values = [param["row_id"], *([param["row_version"]] if versioned else []),
                      *(param[f"v_{c}"] for c in columns)]
            copy.write_row([v if f is None or v is None else f(v)
                            for v, f in zip(values, converters)])
    assignments = [f"{_quoted(c)} = s.{_quoted(c)}" for c in columns if c != "version"]
    if bump_version or versioned:
        assignments.append(f"version = {_quoted(table.name)}.version + 1")
    condition = f"{_quoted(table.name)}.id = s.id"
    if versioned:
        condition += f" AND {_quoted(table.name)}.version = s.version"
    result = connection.exec_driver_sql(
        f"UPDATE {_quoted(table.name)} SET {', '.join(assignments)} FROM {stage} AS s "
        f"WHERE {condition}")
    connection.exec_driver_sql(f"DROP TABLE {stage}")
    return result.rowcount
