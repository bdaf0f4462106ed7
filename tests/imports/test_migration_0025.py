"""Migration 0025 lets batches and templates be of the first-day kinds, on a database that
already holds batches.

Guards: a customer batch written before the migration survives both ways; after the upgrade a
staff batch can be stored, staff have a mobile column and set-password tokens a table; the
downgrade removes the batches of the new kinds (not the others) and the database again refuses
the new kinds.
"""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, insert, select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from models.base import utcnow
from models.imports import ImportBatch
from tests.support.services import migration_app

BEFORE = "0024_import_interrupted"
AFTER = "0025_import_kinds"


def _batch(kind: str) -> int:
    connection = db.session.connection()
    batch_id = connection.execute(insert(ImportBatch.__table__).values(
        kind=kind, mode="atomic", status="committed", filename=f"{kind}.csv", file_format="csv",
        sha256="0" * 64, size_bytes=1, headers=[], mapping={}, create_fields=False,
        rows_done=0, created_count=0, updated_count=0, unchanged_count=0, rejected_count=0,
        checkpoint_row=0, needs_approval=False, cancel_requested=False, created_at=utcnow(),
        updated_at=utcnow())).inserted_primary_key[0]
    db.session.commit()
    return batch_id


def _kinds() -> dict:
    return dict(db.session.execute(select(ImportBatch.id, ImportBatch.kind)).all())


def test_upgrade_and_downgrade_on_a_database_with_batches(tmp_path):
    with migration_app(tmp_path) as app, app.app_context():
        upgrade(revision=BEFORE)
        old = _batch("customers")
        with pytest.raises(IntegrityError):
            _batch("staff")
        db.session.rollback()
        upgrade(revision=AFTER)
        new = _batch("staff")
        products = _batch("products")
        assert _kinds() == {old: "customers", new: "staff", products: "products"}
        inspector = inspect(db.engine)
        assert "mobile" in {c["name"] for c in inspector.get_columns("ab_user")}
        assert "set_password_token" in inspector.get_table_names()
        db.session.remove()
        downgrade(revision=BEFORE)
        assert _kinds() == {old: "customers"}
        inspector = inspect(db.engine)
        assert "mobile" not in {c["name"] for c in inspector.get_columns("ab_user")}
        assert "set_password_token" not in inspector.get_table_names()
        with pytest.raises(IntegrityError):
            _batch("branches")
        db.session.rollback()
        db.session.remove()
        upgrade(revision=AFTER)
        assert _kinds() == {old: "customers"}
