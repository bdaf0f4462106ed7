"""The churn features of every customer to be scored, in one set-based pass, read in big chunks.

Training reads a sample chunk by chunk (``dataset.chunk_features``: a handful of grouped queries
per id range). Scoring reads everybody, and per id range those queries cost an index range scan
whose heap rows lie all over the transaction table, revisited chunk after chunk. So scoring runs
each grouped query once over its whole table instead (a sequential scan and one hash aggregate
per activity table, parallel on PostgreSQL), joins the results to the customers in one
``CREATE TEMPORARY TABLE ... AS`` and reads that table back in chunks of many customers: on
PostgreSQL with ``COPY ... TO STDOUT`` parsed by pandas' C reader (no Python object per value), on
SQLite with a plain select. The frames handed to :func:`backoffice.churn.features.build_features`
are the ones the per-chunk queries give, so a customer's features do not depend on the path.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import pandas as pd
from flask import current_app
from sqlalchemy import select, text

from backoffice.churn import extract
from backoffice.churn import features as F
from backoffice.churn.dataset import Selection, features_of
from models import Customer

TABLE = "churn_feature_stage"
PROFILE_TEXT = ("tier", "customer_type", "gender", "risk_tolerance", "customer_status")
DEFAULT_WORK_MEM = "256MB"  # the hash aggregates over a million customers stay in memory
_MEMORY = re.compile(r"^\d{1,6}(kB|MB|GB)$")


@dataclass(frozen=True)
class Stage:
    """What was staged: the selection (its columns) and how many customers."""

    selection: Selection
    rows: int

    def text_columns(self) -> list[str]:
        """Columns read back as text (categories and the custom-field JSON), never numbers."""
        columns = list(PROFILE_TEXT)
        columns += [F.standard_column(n) for n in self.selection.standard
                    if extract.STANDARD_FEATURE_COLUMNS[n] == "categorical"]
        if self.selection.custom:
            columns.append("custom_fields")
        return columns


def stage(session, snapshot: extract.Snapshot, selection: Selection, *, where=None) -> Stage:
    """Compute every customer's aggregates into the temporary table; the caller's transaction
    holds it (and :func:`drop` removes it)."""
    if snapshot.closed_gap_days is not None:
        raise ValueError("staging is for scoring (one reference day for everybody)")
    drop(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        memory = current_app.config["CRM_CHURN_WORK_MEM"]
        if not _MEMORY.match(str(memory)):
            raise ValueError(f"CRM_CHURN_WORK_MEM must look like 256MB, not {memory!r}")
        session.execute(text("SELECT set_config('work_mem', :memory, true)"), {"memory": memory})
    parts = [(extract.transaction_statement(snapshot).subquery("tx"), F.TX_COLUMNS),
             (extract.account_statement(snapshot).subquery("acc"), F.ACCOUNT_COLUMNS),
             (extract.interaction_statement(snapshot).subquery("inter"), F.INTERACTION_COLUMNS),
             (extract.complaint_statement(snapshot).subquery("cases"), F.COMPLAINT_COLUMNS)]
    columns = extract.customer_columns(snapshot, custom_json=bool(selection.custom),
                                       standard=selection.standard, flags_as_numbers=True)
    source = Customer.__table__
    for part, names in parts:
        columns += [part.c[name] for name in names]
        source = source.outerjoin(part, part.c.customer_id == Customer.id)
    statement = select(*columns).select_from(source)
    if where is not None:
        statement = statement.where(where)
    session.execute(statement.into(TABLE, temporary=True),
                    execution_options={"crm_unscoped": True})
    session.execute(text(f"CREATE INDEX ix_{TABLE}_id ON {TABLE} (id)"))
    if postgres:
        session.execute(text(f"ANALYZE {TABLE}"))
    rows = session.scalar(text(f"SELECT count(*) FROM {TABLE}"))
    return Stage(selection=selection, rows=int(rows or 0))


def chunks(session, staged: Stage, size: int):
    """``(customers, features)`` per chunk of ``size`` customers, in id order."""
    bounds = session.execute(text(
        f"SELECT min(id), max(id) FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / :size"
        f" AS bucket FROM {TABLE}) numbered GROUP BY bucket ORDER BY 1"), {"size": int(size)}).all()
    for lo, hi in bounds:
        raw = _read(session, staged, lo, hi)
        if raw.empty:
            continue
        yield split(raw, staged.selection)


def split(raw: pd.DataFrame, selection: Selection):
    """The staged rows as the per-chunk frames, then as features (``dataset.features_of``)."""
    profile = ["id", "ref_day", "birth_day", "onboarded_day", *PROFILE_TEXT,
               *[F.standard_column(n) for n in selection.standard]]
    customers = raw[profile].copy()
    if selection.custom:
        customers["custom_fields"] = raw["custom_fields"].map(_json_dict).to_numpy()
    ids = raw["id"].to_numpy()

    def part(names):
        frame = raw[list(names)].copy()
        frame.insert(0, "customer_id", ids)
        return frame

    return customers, features_of(customers, part(F.TX_COLUMNS), part(F.ACCOUNT_COLUMNS),
                                  part(F.INTERACTION_COLUMNS), part(F.COMPLAINT_COLUMNS),
                                  selection)


def drop(session) -> None:
    session.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))


def _read(session, staged: Stage, lo: int, hi: int) -> pd.DataFrame:
    if session.get_bind().dialect.name != "postgresql":
        result = session.execute(text(f"SELECT * FROM {TABLE} WHERE id BETWEEN :lo AND :hi "
                                      "ORDER BY id"), {"lo": lo, "hi": hi})
        return pd.DataFrame(result.all(), columns=list(result.keys()))
    raw = session.connection().connection.driver_connection
    buffer = io.BytesIO()
    query = (f"COPY (SELECT * FROM {TABLE} WHERE id BETWEEN %s AND %s ORDER BY id) "
             "TO STDOUT WITH (FORMAT csv, HEADER true)")
    with raw.cursor() as cursor, cursor.copy(query, (lo, hi)) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    # CSV NULL is an empty unquoted field; "NA" and the like stay text.
    return pd.read_csv(buffer, dtype={c: object for c in staged.text_columns()},
                       keep_default_na=False, na_values=[""])


def _json_dict(value):
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}
