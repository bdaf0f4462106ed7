"""Helpers for the database stage of imports: files built in memory, runs, and clean-up.

Every test names its customers with its own prefix and removes what its batches created (by the
batches' undo rows), so the shared world of the session stays as other tests expect it.
"""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import delete, select

from backoffice.extensions import db
from backoffice.imports import pipeline, service, writes
from models import Account, Customer, Interaction, Transaction
from models.imports import ImportBatch, ImportFile, ImportRowChange

UNSCOPED = {"crm_unscoped": True}


def csv_bytes(header: list[str], rows: list[list], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(data: bytes, kind: str = "customers", mode: str = "atomic", name: str = "t.csv",
           **kwargs) -> ImportBatch:
    batch, _ = service.upload(db.session, data, name, kind, mode=mode, **kwargs)
    return batch


def commit(data: bytes, kind: str = "customers", mode: str = "atomic", **kwargs) -> dict:
    batch = upload(data, kind, mode, **kwargs)
    return pipeline.commit(db.session, batch.id)


def count(model, *conditions) -> int:
    from sqlalchemy import func

    return db.session.execute(select(func.count()).select_from(model).where(*conditions)
                              .execution_options(**UNSCOPED)).scalar()


def customers_with_prefix(prefix: str) -> list[Customer]:
    return db.session.execute(select(Customer).where(Customer.customer_no.like(f"{prefix}%"))
                              .order_by(Customer.customer_no)
                              .execution_options(**UNSCOPED)).scalars().all()


def created_ids(batch_ids) -> list[int]:
    """Ids of the records the given batches created (undo rows of either form)."""
    changes = db.session.execute(select(ImportRowChange).where(
        ImportRowChange.batch_id.in_(list(batch_ids)), ImportRowChange.op == "create")
        .order_by(ImportRowChange.id)).scalars()
    return [entry.entity_id for entry in writes.undo_entries(changes)]


def remove_batches_data(batch_ids) -> None:
    """Delete every row the given batches created (children first), and the batches."""
    ids = list(batch_ids)
    if not ids:
        return
    db.session.rollback()
    kinds = dict(db.session.execute(select(ImportBatch.id, ImportBatch.kind)
                                    .where(ImportBatch.id.in_(ids))).all())
    order = ("transactions", "interactions", "accounts", "customers")
    tables = {"customers": Customer.__table__, "accounts": Account.__table__,
              "transactions": Transaction.__table__, "interactions": Interaction.__table__}
    for kind in order:
        batch_ids_of_kind = [b for b, k in kinds.items() if k == kind]
        if not batch_ids_of_kind:
            continue
        created = created_ids(batch_ids_of_kind)
        for start in range(0, len(created), 5000):
            db.session.execute(delete(tables[kind]).where(
                tables[kind].c.id.in_(created[start:start + 5000])))
    db.session.execute(delete(ImportRowChange).where(ImportRowChange.batch_id.in_(ids)))
    db.session.execute(delete(ImportFile).where(ImportFile.batch_id.in_(ids)))
    db.session.execute(delete(ImportBatch).where(ImportBatch.id.in_(ids)))
    db.session.commit()


@pytest.fixture
def imports(app, world):
    """An app context for the test; every batch made during the test is undone after it."""
    with app.app_context():
        before = db.session.execute(select(db.func.max(ImportBatch.id))).scalar() or 0
        yield db.session
        db.session.rollback()
        made = db.session.execute(select(ImportBatch.id).where(ImportBatch.id > before)).scalars()
        remove_batches_data(list(made))
        db.session.remove()


@pytest.fixture
def cleanup(app, world):
    """For screen tests (no app context held: each request must push its own, or ``g`` and the
    logged-in user would leak between test clients): undo the test's batches afterwards."""
    with app.app_context():
        before = db.session.execute(select(db.func.max(ImportBatch.id))).scalar() or 0
        db.session.remove()
    yield
    with app.app_context():
        made = db.session.execute(select(ImportBatch.id).where(ImportBatch.id > before)).scalars()
        remove_batches_data(list(made))
        db.session.remove()


@pytest.fixture
def chunk_size(app):
    """``chunk_size(n)`` sets the import chunk size for the test (None: the default)."""
    from config.settings import BaseConfig

    def set_size(size: int | None):
        app.config["CRM_IMPORT_CHUNK_SIZE"] = (BaseConfig.CRM_IMPORT_CHUNK_SIZE if size is None
                                               else size)

    yield set_size
    app.config["CRM_IMPORT_CHUNK_SIZE"] = BaseConfig.CRM_IMPORT_CHUNK_SIZE
