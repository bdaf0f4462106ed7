"""Writing a chunk of scores: one upsert per chunk that keeps the previous probability.

The latest score replaces the customer's row and the one it replaces becomes
``previous_probability`` / ``previous_scored_at`` (the trend on the warning screen). SQLite and
PostgreSQL both speak ``INSERT ... ON CONFLICT DO UPDATE``; on PostgreSQL the chunk is first
copied into a temporary table (``COPY``), which is what makes a million rows a minute's work.
"""
from __future__ import annotations

import io
import json

from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from models.churn import ChurnScore

COLUMNS = ("customer_id", "model_id", "probability", "risk_band", "value_band", "warning_tier",
           "reasons", "signals", "scored_at")
_UPDATED = ("model_id", "probability", "risk_band", "value_band", "warning_tier", "reasons",
            "signals", "scored_at")


def write_scores(session, rows: list[dict]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy_upsert(session, rows)
    else:
        _upsert(session, rows, sqlite.insert)


def _upsert(session, rows, dialect_insert) -> None:
    table = ChurnScore.__table__
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={"previous_probability": table.c.probability,
              "previous_scored_at": table.c.scored_at,
              **{name: statement.excluded[name] for name in _UPDATED}})
    session.execute(statement, rows, execution_options={"crm_unscoped": True})


def _copy_upsert(session, rows) -> None:
    """COPY the chunk into a temporary table, then one INSERT ... SELECT ... ON CONFLICT."""
    connection = session.connection()
    raw = connection.connection.driver_connection
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS churn_score_in (customer_id integer, model_id integer,"
        " probability double precision, risk_band varchar(8), value_band varchar(8),"
        " warning_tier varchar(2), reasons jsonb, signals jsonb, scored_at timestamp)"
        " ON COMMIT DELETE ROWS")
    connection.exec_driver_sql("TRUNCATE churn_score_in")
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_value(row[name]) for name in COLUMNS))
        buffer.write("\n")
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY churn_score_in ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _UPDATED)
    connection.execute(text(
        f"INSERT INTO churn_score ({', '.join(COLUMNS)}) "
        f"SELECT {', '.join(COLUMNS)} FROM churn_score_in "
        "ON CONFLICT (customer_id) DO UPDATE SET previous_probability = churn_score.probability,"
        f" previous_scored_at = churn_score.scored_at, {updates}"))


def _copy_value(value) -> str:
    """One field in COPY's text format (\\N for NULL, tabs and backslashes escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    text_value = str(value)
    return (text_value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))

