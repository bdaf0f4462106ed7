"""The COPY loader writes exactly the rows of the ordinary demo loader (same seed, same data),
encrypted with the real functions, indexes rebuilt, sequences moved past the ids, and a loaded
chained operation log that verifies.

PostgreSQL only (COPY); each loader gets a schema of its own in the test database, built from the
models and dropped afterwards, so the shared test world is untouched.
"""
from __future__ import annotations

import datetime as dt

import pytest
from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.orm import Session

import models
from backoffice.demo import DemoAlreadyLoaded, load_demo
from backoffice.demo.bulk import load_demo_bulk
from models import crypto
from tests.support import services

ROLES = ("Admin", "SeniorManager", "BranchManager", "RelationshipManager", "Teller", "Operator",
         "Auditor")
TODAY = dt.date(2026, 3, 15)
KEYRING = crypto.KeyRing.generate("bulk-test")
COMPARED = {
    "customer": "id, customer_no, name, gender, birth_date, id_number_bidx, mobile_bidx, "
                "owner_id, teller_id, branch_id, onboarded_on, status, closed_on, risk_tolerance",
    "account": "id, account_no_bidx, customer_id, product_id, balance, opened_on, closed_on, "
               "status",
    "transaction": "id, account_id, customer_id, occurred_at, amount, direction, channel, type, "
                   "counterparty, description",
    "interaction": "id, customer_id, staff_id, occurred_at, channel, topic, summary, "
                   "satisfaction, complaint",
    "follow_up": "id, customer_id, assignee_id, interaction_id, title, due_at, status",
}


@pytest.fixture
def schemas():
    url = services.require_postgresql()
    engines = {}
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    for name in ("h9_bulk", "h9_plain"):
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {name}"))
        engine = create_engine(url, connect_args={"options": f"-csearch_path={name}"})
        models.Model.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(Role.__table__), [{"name": role} for role in ROLES])
        engines[name] = engine
    yield engines
    for name, engine in engines.items():
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
    admin.dispose()


def _rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(text(f'SELECT {COMPARED[table]} FROM "{table}" ORDER BY id')).all()


def test_bulk_rows_equal_the_ordinary_loaders(schemas):
    """Same seed, same rows in every table (ciphertexts differ, their plaintexts do not)."""
    kwargs = {"customers": 120, "seed": 11, "tx_per_month": 6, "today": TODAY,
              "keyring": KEYRING}
    with Session(schemas["h9_bulk"]) as session:
        bulk = load_demo_bulk(session, chunk_customers=50, **kwargs)
    with Session(schemas["h9_plain"]) as session:
        plain = load_demo(session, **kwargs)
    assert bulk.counts == plain.counts and bulk.counts["transaction"] > 1000
    for table in COMPARED:
        assert _rows(schemas["h9_bulk"], table) == _rows(schemas["h9_plain"], table), table
    with schemas["h9_bulk"].connect() as conn:
        row = conn.execute(text("SELECT * FROM customer ORDER BY id LIMIT 1")).mappings().one()
    with schemas["h9_plain"].connect() as conn:
        twin = conn.execute(text("SELECT * FROM customer ORDER BY id LIMIT 1")).mappings().one()
    assert row["id_number_enc"] != twin["id_number_enc"]  # random nonces
    opened = crypto.open_row("customer", dict(row), KEYRING)
    assert opened["id_number"] == crypto.open_row("customer", dict(twin), KEYRING)["id_number"]


def test_bulk_load_rebuilds_indexes_and_moves_sequences(schemas):
    engine = schemas["h9_bulk"]
    before = {t: {i["name"] for i in inspect(engine).get_indexes(t)} for t in COMPARED}
    with Session(engine) as session:
        load_demo_bulk(session, customers=40, seed=3, tx_per_month=2, today=TODAY,
                       keyring=KEYRING)
    after = {t: {i["name"] for i in inspect(engine).get_indexes(t)} for t in COMPARED}
    assert after == before
    with engine.begin() as conn:
        highest = conn.execute(text("SELECT max(id) FROM customer")).scalar()
        following = conn.execute(text("SELECT nextval(pg_get_serial_sequence('customer', 'id'))"
                                      )).scalar()
        assert following == highest + 1
        assert conn.execute(text("SHOW session_replication_role")).scalar() == "origin"


def test_bulk_load_refuses_a_loaded_bank(schemas):
    with Session(schemas["h9_bulk"]) as session:
        load_demo_bulk(session, customers=5, seed=1, tx_per_month=0, today=TODAY,
                       keyring=KEYRING)
        with pytest.raises(DemoAlreadyLoaded):
            load_demo_bulk(session, customers=5, seed=1, tx_per_month=0, today=TODAY,
                           keyring=KEYRING)
