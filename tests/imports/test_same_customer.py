"""A file names each existing customer once, and finding a chunk's customers stays an index
lookup however small the statistics say the table is.

Two rows that find the same existing customer (one by customer number, the other by ID number)
would overwrite each other's values in an order nobody chose; the second is a row problem that
names the first, in one chunk or across chunks (in one chunk it used to fail the whole batch as
"records changed while the import ran", the second update meeting the version the first had
just moved).
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import or_, select, text

from backoffice.extensions import db
from backoffice.imports import writes
from models import Customer
from tests.imports.conftest import csv_bytes
from tests.imports.test_custom_field_rules import report_rows, run
from tests.support.world import make_prc_id

UNSCOPED = {"crm_unscoped": True}
MAPPING = {"客户号": "customer_no", "姓名": "name", "身份证号": "id_number", "支行": "branch"}


def fresh_ids(count: int) -> list[str]:
    """PRC ID numbers no other test uses (a random birth day and serial)."""
    rng = random.Random(uuid.uuid4().int)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(15000))
    first = rng.randrange(100, 900)
    return [make_prc_id(birth, first + i) for i in range(count)]


def names(prefix: str) -> dict:
    return dict(db.session.execute(select(Customer.customer_no, Customer.name).where(
        Customer.customer_no.like(f"{prefix}%")).execution_options(**UNSCOPED)).all())


@pytest.mark.parametrize("size", [None, 2], ids=["one chunk", "chunks of two"])
@pytest.mark.parametrize("mode", ["skip_bad", "atomic"])
def test_second_row_naming_a_customer_is_rejected(imports, chunk_size, size, mode):
    prefix = f"S{uuid.uuid4().hex[:6]}"
    first, second = fresh_ids(2)
    before, _ = run(csv_bytes(list(MAPPING), [[f"{prefix}1", "甲", first, "B1"],
                                             [f"{prefix}2", "乙", second, "B1"]]),
                    "customers", "skip_bad", MAPPING)
    assert before["created"] == 2
    chunk_size(size)
    summary, report = run(csv_bytes(list(MAPPING), [
        [f"{prefix}1", "甲一", "", ""],  # row 2: customer 1 by number
        [f"{prefix}3", "丙", "", "B1"],  # row 3: new
        ["", "甲二", first, ""],  # row 4: customer 1 again, by ID number
        [f"{prefix}2", "乙一", "", ""],  # row 5: customer 2 by number
    ]), "customers", mode, MAPPING)
    assert [row[0] for row in report] == [4]
    message = " ".join(str(cell) for cell in report[0])
    assert "same customer as row 2" in message or "第 2 行" in message, message
    db.session.expire_all()
    if mode == "atomic":
        assert (summary["status"], summary["rejected"]) == ("failed", 1)
        assert names(prefix) == {f"{prefix}1": "甲", f"{prefix}2": "乙"}
        return
    assert (summary["status"], summary["created"], summary["updated"], summary["rejected"]) \
        == ("committed", 1, 2, 1)
    assert names(prefix) == {f"{prefix}1": "甲一", f"{prefix}2": "乙一", f"{prefix}3": "丙"}


def test_the_same_file_again_changes_nothing(imports):
    """Rows naming their customers once each are untouched by the rule: a re-run is all
    unchanged."""
    prefix = f"S{uuid.uuid4().hex[:6]}"
    rows = [[f"{prefix}{i}", f"名{i}", number, "B1"] for i, number in enumerate(fresh_ids(3))]
    created, _ = run(csv_bytes(list(MAPPING), rows), "customers", "skip_bad", MAPPING)
    again, report = run(csv_bytes(list(MAPPING), rows), "customers", "skip_bad", MAPPING)
    assert (created["created"], again["unchanged"], again["rejected"], report) == (3, 3, 0, [])


def test_key_lookup_uses_the_index_on_a_table_analysed_small(imports):
    """Fresh statistics of a small customer table (a new installation's first import) make the
    planner scan the table comparing every row with every key; the rows an import inserts in
    its own transaction then make each chunk's lookup slower than the last (seen: an import
    falling from 10,000 to 400 rows/s). The lookup must go through the index regardless, and
    leave the setting as it found it."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner question")
    keys = [f"K{i:06d}" for i in range(2000)]
    lookup = select(Customer.id).where(or_(
        writes.in_values(db.session, Customer.customer_no, keys),
        writes.in_values(db.session, Customer.id_number_bidx, keys)))
    literal = lookup.compile(dialect=db.session.get_bind().dialect,
                             compile_kwargs={"literal_binds": True})
    db.session.execute(text("ANALYZE customer"))
    plan = "\n".join(row[0] for row in writes.read_by_index(
        db.session, text(f"EXPLAIN {literal}")))
    assert "Seq Scan" not in plan and "Index" in plan, plan
    assert writes.read_by_index(db.session, select(lookup.subquery())).all() == []
    assert db.session.execute(text("SHOW enable_seqscan")).scalar() == "on"


def test_key_lookup_finds_every_kind_of_value(imports):
    """Texts go to PostgreSQL joined into one parameter; a text holding the separator (or a
    value that is not text) goes as an array, and both find the same rows."""
    prefix = f"S{uuid.uuid4().hex[:6]}"
    run(csv_bytes(list(MAPPING), [[f"{prefix}1", "甲", "", "B1"], [f"{prefix}2", "乙", "", "B1"]]),
        "customers", "skip_bad", MAPPING)
    for keys in ([f"{prefix}1", f"{prefix}2", "nobody"], [f"{prefix}1", f"{prefix}2", "a\x1fb"],
                 [f"{prefix}1", f"{prefix}2", ""]):
        found = db.session.execute(select(Customer.customer_no).where(
            writes.in_values(db.session, Customer.customer_no, keys))
            .execution_options(**UNSCOPED)).scalars()
        assert sorted(found) == [f"{prefix}1", f"{prefix}2"], keys
    ids = db.session.execute(select(Customer.id).where(Customer.customer_no.like(f"{prefix}%"))
                             .execution_options(**UNSCOPED)).scalars().all()
    found = db.session.execute(select(Customer.id).where(
        writes.in_values(db.session, Customer.id, ids)).execution_options(**UNSCOPED)).scalars()
    assert sorted(found) == sorted(ids)


@pytest.mark.parametrize("size", [None, 1], ids=["one chunk", "chunks of one"])
def test_a_number_of_the_form_the_batch_generates_is_a_row_error(imports, chunk_size, size):
    """A row without a customer number gets ``IMP<batch><row>``; a new customer given such a
    number of the same batch would collide with it (the whole batch failed on the unique
    constraint): it is a row problem instead, and the rest of the file is written."""
    from backoffice.imports import pipeline, service
    from backoffice.imports.customers_target import generated_number

    placeholder, _ = service.upload(db.session, csv_bytes(["客户号", "姓名"], [["X", "占位"]]),
                                    "placeholder.csv", "customers")
    batch_id = placeholder.id + 1  # the next batch: the one uploaded below
    taken = generated_number(batch_id, 2)  # what row 2 (no number) will get
    first, second = fresh_ids(2)
    chunk_size(size)
    batch, _ = service.upload(db.session, csv_bytes(list(MAPPING), [
        ["", "甲", first, "B1"], [taken, "乙", second, "B1"]]), "reserved.csv", "customers",
        mode="skip_bad")
    assert batch.id == batch_id
    service.set_mapping(db.session, batch, MAPPING)
    db.session.commit()
    summary = pipeline.commit(db.session, batch.id)
    assert (summary["status"], summary["created"], summary["rejected"]) == ("committed", 1, 1)
    (rejected,) = report_rows(pipeline.files.load(db.session, batch.id, "report"))
    assert rejected[0] == 3 and rejected[-1] == (
        f"第 3 行，客户号：{taken[:10]}… 形式的编号由本次导入分配给没有客户号的行，请使用其他编号。")
    stored = db.session.execute(select(Customer.customer_no, Customer.name).where(
        Customer.customer_no == taken).execution_options(**UNSCOPED)).all()
    assert stored == [(taken, "甲")]
