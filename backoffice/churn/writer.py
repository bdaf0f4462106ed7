"""Writing scores: an upsert that keeps the previous probability (a chunk, or a whole run).

The latest score replaces the customer's row and the one it replaces becomes
``previous_probability`` / ``previous_scored_at`` (the trend on the warning screen). SQLite and
PostgreSQL both speak ``INSERT ... ON CONFLICT DO UPDATE``; on PostgreSQL the chunk is first
copied into a temporary table (``COPY``), which is what makes a million rows a minute's work.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
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


class ScoreSink:
    """The scores of a whole run, written with one upsert at the end (``finish``).

    On PostgreSQL each chunk is copied (CSV, built by pandas) into a temporary table, and one
    ``INSERT ... SELECT ... ON CONFLICT`` moves a million rows at once: one statement, one pass
    over the indexes, instead of one per chunk. ``model_id`` and ``scored_at`` are the run's, so
    they are not copied per row. On SQLite (the embedded mode, small banks) each chunk is upserted
    as it comes.
    """

    STAGE = "churn_score_stage"
    _STAGED = ("customer_id", "probability", "risk_band", "value_band", "warning_tier",
               "reasons", "signals")

    def __init__(self, session, *, model_id, scored_at):
        self.session, self.model_id, self.scored_at = session, model_id, scored_at
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.rows = 0
        if self.postgres:
            connection = session.connection()
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.STAGE}")
            connection.exec_driver_sql(
                f"CREATE TEMP TABLE {self.STAGE} (customer_id integer, probability double "
                "precision, risk_band varchar(8), value_band varchar(8), warning_tier varchar(2),"
                " reasons jsonb, signals jsonb)")

    def add(self, customer_ids, probability, risk, value, tier, reasons, signals) -> None:
        """One chunk: arrays of equal length; ``reasons``/``signals`` lists of lists of dicts."""
        if not len(customer_ids):
            return
        self.rows += len(customer_ids)
        probability = np.round(np.asarray(probability, dtype=float), 6)
        if not self.postgres:
            write_scores(self.session, [
                {"customer_id": int(c), "model_id": self.model_id,
                 "probability": None if np.isnan(p) else float(p), "risk_band": r,
                 "value_band": v, "warning_tier": t, "reasons": w, "signals": s,
                 "scored_at": self.scored_at}
                for c, p, r, v, t, w, s in zip(customer_ids, probability, risk, value, tier,
                                                reasons, signals)])
            return
        frame = pd.DataFrame({
            "customer_id": np.asarray(customer_ids, dtype=np.int64), "probability": probability,
            "risk_band": risk, "value_band": value, "warning_tier": tier,
            "reasons": [_json(r) for r in reasons], "signals": [_json(s) for s in signals]})
        payload = frame.to_csv(index=False, header=False, na_rep="")
        raw = self.session.connection().connection.driver_connection
        query = f"COPY {self.STAGE} ({', '.join(self._STAGED)}) FROM STDIN WITH (FORMAT csv)"
        with raw.cursor() as cursor, cursor.copy(query) as copy:
            copy.write(payload)

    def finish(self) -> None:
        if not self.postgres:
            return
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _UPDATED)
        staged = [n if n not in ("model_id", "scored_at") else f":{n}" for n in COLUMNS]
        staged[COLUMNS.index("model_id")] = "CAST(:model_id AS integer)"
        self.session.execute(text(
            f"INSERT INTO churn_score ({', '.join(COLUMNS)}) "
            f"SELECT {', '.join(staged)} FROM {self.STAGE} "
            "ON CONFLICT (customer_id) DO UPDATE SET previous_probability = "
            "churn_score.probability, previous_scored_at = churn_score.scored_at, "
            f"{updates}"), {"model_id": self.model_id, "scored_at": self.scored_at},
            execution_options={"crm_unscoped": True})
        self.session.connection().exec_driver_sql(f"DROP TABLE IF EXISTS {self.STAGE}")


def _json(items) -> str:
    return json.dumps(items, ensure_ascii=False) if items else "[]"
