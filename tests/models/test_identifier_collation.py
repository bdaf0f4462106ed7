"""Identifier columns (record uids, blind indexes, customer numbers) compare byte by byte on
PostgreSQL: declared with ``models.base.identifier`` and collated ``"C"`` by migration 0019,
which keeps the rows already stored (and their indexes) as they were."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from models import Branch, Customer
from tests.support import services
from tests.support.world import make_prc_id

MIGRATION = "0019_identifier_collation"
STORED = text("SELECT customer_no, record_uid, id_number_enc, id_number_bidx, mobile_bidx "
              "FROM customer")  # the stored identifiers and a ciphertext bound to one
FILE_NODE = text("SELECT pg_relation_filenode('customer')")


def identifier_columns() -> set[tuple[str, str]]:
    """(table, column) of every column the models declare with ``identifier``."""
    from sqlalchemy.dialects import postgresql

    from models import metadata

    dialect = postgresql.dialect()
    return {(table.name, column.name) for table in metadata.tables.values()
            for column in table.columns
            if getattr(column.type.dialect_impl(dialect), "collation", None) == "C"}


# Tables made after 0019 whose migration creates their identifier columns collated "C" itself
# (checked on a database at head by the test below).
LATER = {"webhook": "0033_webhooks", "webhook_delivery": "0033_webhooks"}


def identifiers_at_0019() -> set[tuple[str, str]]:
    return {(table, column) for table, column in identifier_columns() if table not in LATER}


def test_the_migration_collates_what_the_models_declare():
    migration = services.migration_module(MIGRATION)
    migrated = {(table, column) for table, columns in migration.IDENTIFIERS.items()
                for column, _ in columns}
    assert migrated == identifiers_at_0019()
    assert ("customer", "id_number_bidx") in migrated and ("customer", "customer_no") in migrated


def collations(connection) -> dict[tuple[str, str], str | None]:
    rows = connection.execute(text(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"))
    return {(table, column): collation for table, column, collation in rows}


def test_migration_0019_collates_identifiers_of_a_database_with_customers(tmp_path, monkeypatch):
    from flask_migrate import downgrade, upgrade

    from backoffice.fields import registry

    services.require_postgresql()
    # The models are at head while the schema is at 0018: the custom-field catalogue (which
    # the operation log's hooks read) has columns 0018 lacks, and this bank has no custom field.
    monkeypatch.setattr(registry, "_load", lambda *args, **kwargs: ())
    # Nor has it the tables automation rules and webhooks are read from: no event is wanted.
    from backoffice import events

    monkeypatch.setattr(events, "wanted", lambda name: False)
    id_number = make_prc_id(dt.date(1980, 2, 29), 7)
    with services.migration_app(tmp_path) as app, app.app_context():
        upgrade(revision="0018_import_file_lz4")
        db.session.add(Branch(id=1, code="M1", name="迁移支行"))
        db.session.add(Customer(customer_no="C000000001", name="旧客户", branch_id=1,
                                id_number=id_number, mobile="13512345678"))
        db.session.commit()
        before = db.session.execute(STORED).one()
        with db.engine.connect() as connection:
            assert collations(connection)[("customer", "id_number_bidx")] is None
            table_file = connection.execute(FILE_NODE).scalar()
        db.session.remove()

        upgrade(revision=MIGRATION)
        with db.engine.connect() as connection:
            found = collations(connection)
            assert {key: found[key] for key in identifiers_at_0019()} == dict.fromkeys(
                identifiers_at_0019(), "C")
            assert found[("customer", "name")] is None  # names keep the database's order
            assert connection.execute(STORED).one() == before
            assert connection.execute(FILE_NODE).scalar() == table_file  # not rewritten
            connection.execute(text("SET enable_seqscan = off"))
            plan = " ".join(row[0] for row in connection.execute(text(
                "EXPLAIN SELECT id FROM customer WHERE customer_no LIKE 'C0000%'")))
            assert "customer_customer_no_key" in plan  # a prefix can use the unique index

        customer = db.session.scalars(select(Customer).where(
            Customer.id_number == id_number)).one()  # found through its blind index
        assert (customer.customer_no, customer.mobile) == ("C000000001", "13512345678")
        db.session.add(Customer(customer_no="C000000001", name="重号", branch_id=1,
                                id_number=make_prc_id(dt.date(1981, 3, 1), 8)))
        with pytest.raises(IntegrityError):
            db.session.commit()  # still unique
        db.session.rollback()

        downgrade(revision="0018_import_file_lz4")
        with db.engine.connect() as connection:
            assert not any(collations(connection)[key] for key in identifiers_at_0019())
            assert connection.execute(STORED).one() == before
        db.session.remove()


def test_every_identifier_column_is_collated_at_head(tmp_path):
    """What later migrations create is collated like what 0019 converted."""
    from flask_migrate import upgrade

    services.require_postgresql()
    with services.migration_app(tmp_path) as app, app.app_context():
        upgrade(revision="heads")
        with db.engine.connect() as connection:
            found = collations(connection)
        db.session.remove()
    assert {key: found.get(key) for key in identifier_columns()} == dict.fromkeys(
        identifier_columns(), "C")
