"""On PostgreSQL a customer chunk's inserts are made ready while it is planned (ids from the
sequence, COPY records, format) on the reading session, and copied later by the writing one
(``writes.stage_inserts``/``insert_staged``, ``pg_copy.stage_insert``/``run_copy``); uploads
kept in the database and a chunk's undo data are compressed with lz4 where the server has it
(migrations 0018, 0020)."""
from __future__ import annotations

import uuid

import pytest
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backoffice.extensions import db
from backoffice.imports import customers_target, files, pg_copy, revert, writes
from backoffice.imports.rows import RowResult
from models import Branch, Customer, crypto
from models.base import lz4_available, utcnow
from models.imports import ImportRowChange
from tests.imports.conftest import commit, created_ids, csv_bytes, upload


@pytest.fixture
def pg(imports):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the staged COPY and lz4 are PostgreSQL's")
    return imports


@pytest.fixture
def stagings(monkeypatch) -> list:
    """What every ``writes.stage_inserts`` call of the test returned, in order."""
    staged = []
    real_stage = writes.stage_inserts

    def stage(*args, **kwargs):
        result = real_stage(*args, **kwargs)
        staged.append(result)
        return result

    monkeypatch.setattr(writes, "stage_inserts", stage)
    return staged


def test_new_ids_are_fresh_distinct_and_ascending(pg):
    connection = db.session.connection()
    ids = pg_copy.new_ids(connection, Customer.__table__, 500)
    assert len(ids) == len(set(ids)) == 500 and ids == sorted(ids)
    following = connection.execute(text(
        "SELECT nextval(pg_get_serial_sequence('customer', 'id'))")).scalar()
    assert following > ids[-1]


def test_an_insert_staged_on_one_session_is_copied_by_another(pg):
    """The ids are taken and the records built on a second session; the rows land, with
    those ids, in the writing session's transaction (and leave with its rollback)."""
    prefix = f"S{uuid.uuid4().hex[:6]}"
    results = [RowResult(n, values={"customer_no": f"{prefix}{n}", "name": f"分阶段{n}"})
               for n in (1, 2)]
    columns = dict(customers_target.seal_new(crypto.current_keyring(), 1, results)[0].columns)
    branch_id = db.session.execute(select(Branch.id).where(Branch.code == "B1")).scalar()
    now = utcnow()
    columns.update(branch_id=[branch_id] * 2, owner_id=[None] * 2, custom_fields=[{}, {}],
                   version=[1, 1], created_at=[now] * 2, updated_at=[now] * 2)
    reads = Session(bind=db.session.get_bind())
    try:
        staged = writes.stage_inserts(reads, Customer.__table__, columns)
    finally:
        reads.close()
    assert staged is not None and staged.types is not None  # binary format
    ids = writes.insert_staged(db.session, staged)
    assert ids == staged.ids
    found = db.session.execute(select(Customer.id, Customer.customer_no, Customer.name).where(
        Customer.customer_no.like(f"{prefix}%")).order_by(Customer.customer_no)
        .execution_options(crm_unscoped=True)).all()
    assert [tuple(row) for row in found] == [
        (ids[0], f"{prefix}1", "分阶段1"), (ids[1], f"{prefix}2", "分阶段2")]
    db.session.rollback()
    assert not db.session.execute(select(Customer.id).where(
        Customer.customer_no.like(f"{prefix}%")).execution_options(crm_unscoped=True)).all()


def test_a_customer_import_copies_what_its_planning_staged(pg, stagings, monkeypatch):
    """Every chunk's inserts were staged while planning (the unstaged path never ran), and
    the undo data names exactly the customers created."""
    unstaged = []
    real_insert = pg_copy.insert_rows

    def insert(*args, **kwargs):
        unstaged.append(args[2].name)
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(pg_copy, "insert_rows", insert)
    monkeypatch.setitem(current_app.config, "CRM_IMPORT_CHUNK_SIZE", 2)
    prefix = f"T{uuid.uuid4().hex[:6]}"
    summary = commit(csv_bytes(["客户号", "姓名", "支行"], [
        [f"{prefix}{n}", f"预备{n}", "B1"] for n in range(1, 6)]))
    assert summary["created"] == 5, summary
    assert len([s for s in stagings if s is not None]) == 3  # chunks of 2, 2 and 1
    assert "customer" not in unstaged
    customers = db.session.execute(select(Customer.id).where(
        Customer.customer_no.like(f"{prefix}%")).execution_options(crm_unscoped=True)
    ).scalars().all()
    assert sorted(created_ids([summary["batch_id"]])) == sorted(customers)
    assert sorted(i for s in stagings if s is not None for i in s.ids) == sorted(customers)


def test_an_atomic_import_stages_nothing_once_a_row_is_rejected(pg, stagings, monkeypatch):
    """Nothing of the batch will be kept after a rejected row (atomic): its later chunks take
    no ids from the sequence and build no records."""
    monkeypatch.setitem(current_app.config, "CRM_IMPORT_CHUNK_SIZE", 2)
    prefix = f"R{uuid.uuid4().hex[:6]}"
    rows = [[f"{prefix}{n}", f"拒绝{n}", "B1"] for n in range(1, 7)]
    rows[2][1] = ""  # row 4 of the file (the second chunk): no name
    summary = commit(csv_bytes(["客户号", "姓名", "支行"], rows))
    assert summary["status"] == "failed" and summary["rejected"] == 1, summary
    assert [len(s.ids) for s in stagings] == [2]  # the first chunk only


@pytest.fixture
def lz4(pg):
    if not lz4_available(db.session.connection()):
        pytest.skip("this PostgreSQL has no lz4")
    return pg


def test_uploads_are_kept_compressed(lz4):
    """Uploads are deflated before they are sealed: ciphertext does not compress, so the
    column's own lz4 no longer would, and a file must not take five times its size."""
    data = csv_bytes(["客户号", "姓名"], [[f"Z{n:08d}", f"压缩{n}"] for n in range(5000)])
    batch = upload(data)
    stored = db.session.execute(text(
        "SELECT octet_length(content) FROM import_file WHERE batch_id = :b AND role = 'upload'"),
        {"b": batch.id}).scalar_one()
    assert stored < len(data) / 3
    assert files.load(db.session, batch.id) == data
    db.session.rollback()


def test_undo_data_is_kept_with_lz4_and_reverts(lz4, monkeypatch):
    """A chunk's undo row (the ids and row numbers of the records it created) is compressed
    with lz4, and the batch still reverts from it."""
    monkeypatch.setitem(current_app.config, "CRM_IMPORT_CHUNK_SIZE", 600)
    prefix = f"U{uuid.uuid4().hex[:6]}"
    summary = commit(csv_bytes(["客户号", "姓名", "支行"],
                               [[f"{prefix}{n:05d}", f"撤销{n}", "B1"] for n in range(600)]))
    assert summary["created"] == 600, summary
    methods = db.session.execute(text(
        "SELECT pg_column_compression(after) FROM import_row_change WHERE batch_id = :b"),
        {"b": summary["batch_id"]}).scalars().all()
    assert methods == ["lz4"]
    change = db.session.execute(select(ImportRowChange).where(
        ImportRowChange.batch_id == summary["batch_id"])).scalar_one()
    assert sorted(change.after["ids"]) == sorted(created_ids([summary["batch_id"]])) \
        == sorted(customer_ids(prefix))
    assert revert.revert(db.session, summary["batch_id"])["removed"] == 600
    assert customer_ids(prefix) == []


def customer_ids(prefix: str) -> list[int]:
    return db.session.execute(select(Customer.id).where(
        Customer.customer_no.like(f"{prefix}%"))).scalars().all()
