"""The demo bank at scale: the same rows as ``load_demo``, written through PostgreSQL's COPY.

A million customers through INSERT ... VALUES spends most of its time parsing SQL and checking
indexes row by row. Here the very same generator (same seed, same rows, same order) feeds
``COPY ... FROM STDIN`` on psycopg 3's ``cursor.copy``: rows stream as text and the server parses
them in bulk. Customer and account rows are sealed with ``models.crypto.seal_rows`` (the real
AES-GCM encryption and keyed blind index) chunk by chunk, just before their COPY.

Because the load starts from an empty bank (checked first), the secondary indexes of the big
tables are dropped before the first COPY and rebuilt once at the end (one sort per index instead
of millions of random inserts), and, when the connection may (a superuser), foreign-key triggers
are skipped for the session (``session_replication_role = replica``): the generator assigns every
key itself, and the rebuilt indexes and the final row counts are checked as usual. Whatever
happens, the dropped indexes are created again.

SQLite keeps the small path (``load_demo``): ``load_demo_bulk`` refuses other dialects.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from operator import itemgetter

from sqlalchemy import text
from sqlalchemy.orm import Session

from backoffice.demo.generator import TABLES
from backoffice.demo.loader import (
    ENCRYPTED_TABLES,
    TABLE_OBJECTS,
    DemoError,
    DemoResult,
    _prepare,
    _refuse_clashes,
    _reset_sequences,
)
from models import crypto

log = logging.getLogger(__name__)

BULK_CHUNK_CUSTOMERS = 5000
# Tables whose secondary indexes are rebuilt after the load instead of maintained during it.
REINDEXED_TABLES = ("customer", "account", "transaction", "interaction", "follow_up")


def load_demo_bulk(session, customers: int = 1000, seed: int = 2026, tx_per_month: float = 4,
                   today: dt.date | None = None, password: str | None = None,
                   keyring: crypto.KeyRing | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   chunk_customers: int = BULK_CHUNK_CUSTOMERS) -> DemoResult:
    """Fill an empty PostgreSQL bank with ``customers`` demo customers through COPY.

    Same arguments and same rows as :func:`backoffice.demo.load_demo`; ``progress(done, total)``
    is called after every committed chunk.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        raise DemoError("The bulk (COPY) demo loader needs PostgreSQL; on SQLite the ordinary "
                        "loader is used.")
    # One physical connection for the whole load: session settings (replica mode) must apply to
    # every COPY, and must be reset on the very connection that carried them.
    with bind.connect() as connection, Session(bind=connection) as own:
        return _load(own, customers, seed, tx_per_month, today, password, keyring, progress,
                     chunk_customers)


def _load(session, customers, seed, tx_per_month, today, password, keyring, progress,
          chunk_customers) -> DemoResult:
    started = time.perf_counter()
    keyring, result, chunks = _prepare(session, customers, seed, tx_per_month, today,
                                       password, keyring, chunk_customers=chunk_customers)
    session.commit()  # end the checks' transaction; COPY runs in its own per chunk
    dropped = _drop_secondary_indexes(session)
    done = 0
    try:
        _skip_fk_triggers_if_allowed(session)
        for number, chunk in enumerate(chunks):
            if number == 0:
                _refuse_clashes(session, chunk.rows)
                result.logins = chunk.logins
            for name in TABLES:
                rows = chunk.rows[name]
                if not rows:
                    continue
                if name in ENCRYPTED_TABLES:
                    rows = crypto.seal_rows(name, rows, keyring)
                copy_rows(session, name, rows)
                result.counts[name] += len(rows)
            session.commit()
            done += chunk.customers
            if chunk.customers:
                log.info("demo (bulk): %d/%d customers loaded", done, customers)
                if progress:
                    progress(done, customers)
    except Exception:
        session.rollback()
        raise
    finally:
        session.rollback()  # every chunk is committed already; a failed one is dropped here
        session.execute(text("RESET session_replication_role"))
        session.commit()  # a reset inside a rolled-back transaction would be undone
        _recreate_indexes(session, dropped)
        session.commit()
    _reset_sequences(session)
    session.commit()
    _analyze(session)
    result.seconds = time.perf_counter() - started
    return result


def copy_rows(session, table_name: str, rows: list[dict]) -> None:
    """``COPY table (columns) FROM STDIN`` for dict rows that all share the first row's keys."""
    table = TABLE_OBJECTS[table_name]
    rows = _with_python_defaults(table, rows)
    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if c.name in columns and _is_json(c)}
    dbapi = session.connection().connection.driver_connection
    preparer = session.get_bind().dialect.identifier_preparer
    statement = "COPY {} ({}) FROM STDIN".format(
        preparer.format_table(table), ", ".join(preparer.quote(c) for c in columns))
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        if json_columns:
            for row in rows:
                copy.write_row(tuple(
                    json.dumps(row[c], ensure_ascii=False) if c in json_columns else row[c]
                    for c in columns))
        else:
            values = itemgetter(*columns)
            for row in rows:
                copy.write_row(values(row))


def _with_python_defaults(table, rows: list[dict]) -> list[dict]:
    """Fill the columns the rows leave out with the model's Python-side defaults, as an ORM or
    Core INSERT would (COPY only knows the database's own defaults)."""
    missing = [c for c in table.columns if c.name not in rows[0] and c.default is not None
               and not c.primary_key and (c.default.is_scalar or c.default.is_callable)]
    if not missing:
        return rows
    for row in rows:
        for column in missing:
            default = column.default
            row[column.name] = default.arg if default.is_scalar else default.arg(None)
    return rows


def _is_json(column) -> bool:
    """True for JSON/JSONB columns (including the JSON-with-a-JSONB-variant ``JsonDocument``)."""
    from sqlalchemy import JSON

    kind = column.type
    return isinstance(kind, JSON) or isinstance(getattr(kind, "impl", None), JSON)


def _drop_secondary_indexes(session, tables=REINDEXED_TABLES) -> list[tuple[str, str]]:
    """Drop the non-unique, non-constraint indexes of the big tables; return (name, DDL) pairs.

    The DDL is PostgreSQL's own ``pg_indexes.indexdef``, so whatever migrations (ours or other
    rooms') created comes back exactly as it was.
    """
    found = session.execute(text(
        """
        SELECT i.indexname, i.indexdef
        FROM pg_indexes i
        JOIN pg_class c ON c.relname = i.indexname
        JOIN pg_index x ON x.indexrelid = c.oid
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables)
          AND NOT x.indisunique AND NOT x.indisprimary
        """), {"tables": list(tables)}).all()
    for name, _ddl in found:
        session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    session.commit()
    return [(name, ddl) for name, ddl in found]


def _recreate_indexes(session, indexes: list[tuple[str, str]]) -> None:
    session.rollback()
    session.execute(text("SET maintenance_work_mem = '512MB'"))
    for name, ddl in indexes:
        log.info("demo (bulk): building %s", name)
        session.execute(text(ddl.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)))
        session.commit()


def _skip_fk_triggers_if_allowed(session) -> None:
    """Skip foreign-key checks for this session when the role is a superuser; else keep them."""
    superuser = session.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                                ).scalar()
    if superuser:
        session.execute(text("SET session_replication_role = replica"))


def _analyze(session) -> None:
    _analyze_tables(session, [TABLE_OBJECTS[name].name for name in TABLES])


def _analyze_tables(session, tables) -> None:
    """``VACUUM (ANALYZE)``: fresh statistics, so the planner knows the new sizes at once, and
    a visibility map, so index-only scans (the lists' capped counts of keys) need not visit
    every freshly copied row; autovacuum would get there, but only some time after the load."""
    connection = session.connection().connection.driver_connection
    session.commit()
    previous = connection.autocommit
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for name in tables:
                cursor.execute(f'VACUUM (ANALYZE) "{name}"')
    finally:
        connection.autocommit = previous
