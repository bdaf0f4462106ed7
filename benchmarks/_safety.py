"""The one guard every benchmark that rebuilds a schema or writes data goes through.

Why: a benchmark empties a schema and loads thousands of made-up customers, so pointed at the
wrong database it destroys a bank's data. Nothing here has a default database: the URL comes from
``--database-url`` or ``CRM_BENCH_DATABASE_URL``, and a database holding customers is refused
unless it carries the marker table a benchmark wrote when it loaded them. A database that does
not exist yet, or has no customer table, or an empty one, holds nothing to lose and is claimed
(marked) before anything is written. (This file starts with ``_`` so ``make bench`` does not run
it as a benchmark.)
"""
from __future__ import annotations

import os
import sys

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

ENV_NAME = "CRM_BENCH_DATABASE_URL"
MARKER_TABLE = "crm_bench_marker"
# Exit status of a benchmark run without a database: `make bench` reports it as skipped.
NO_DATABASE_STATUS = 3


class UnsafeDatabase(RuntimeError):
    """The database holds customers no benchmark loaded: it is not ours to overwrite."""


def database_url(given: str | None, *, required: bool = True) -> str | None:
    """The URL from ``--database-url`` or the environment; exit with a clear message if none."""
    url = given or os.environ.get(ENV_NAME)
    if url or not required:
        return url or None
    print(f"this benchmark writes to a database and has no default one: pass --database-url "
          f"URL or set {ENV_NAME} (a scratch database; one holding customers is refused)",
          file=sys.stderr)
    raise SystemExit(NO_DATABASE_STATUS)


def check_disposable(url: str) -> None:
    """Raise ``UnsafeDatabase`` if ``url`` holds customers and no benchmark marker."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if "customer" not in tables or MARKER_TABLE in tables:
                return
            customers = conn.execute(text("SELECT count(*) FROM customer")).scalar()
    except OperationalError as error:
        if "does not exist" in str(error):  # a database the benchmark will create
            return
        raise
    finally:
        engine.dispose()
    if customers:
        raise UnsafeDatabase(
            f"refusing {_shown(url)}: it holds {customers:,} customers that no benchmark loaded "
            f"(no {MARKER_TABLE} table). Benchmarks empty and reload their database: give them a "
            f"scratch one.")


def refuse_unless_disposable(url: str) -> None:
    """Exit with the reason when ``url`` holds customers no benchmark loaded."""
    try:
        check_disposable(url)
    except UnsafeDatabase as refusal:
        print(str(refusal), file=sys.stderr)
        raise SystemExit(2) from None


def claim(url: str) -> None:
    """Check ``url`` is disposable (exit with the reason if not), then mark it as a benchmark's."""
    refuse_unless_disposable(url)
    mark(url)


def mark(url: str) -> None:
    """Write the marker table, so that a later run may empty what this one loads."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} "
                              f"(loaded_by VARCHAR(100) NOT NULL)"))
            conn.execute(text(f"DELETE FROM {MARKER_TABLE}"))
            conn.execute(text(f"INSERT INTO {MARKER_TABLE} (loaded_by) VALUES (:script)"),
                         {"script": os.path.basename(sys.argv[0] or "benchmark")[:100]})
    finally:
        engine.dispose()


def reset_public_schema(url: str) -> None:
    """Drop and recreate the public schema of a PostgreSQL database, only once it is claimed."""
    claim(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    mark(url)


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
