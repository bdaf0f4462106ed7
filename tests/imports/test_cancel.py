"""Cancelling an import in progress: the batch ends ``cancelled``; atomic mode leaves nothing;
skip-bad mode keeps whole committed chunks only, stays revertible, and a later run resumes it
to the same state as an uninterrupted run (0 duplicates, 0 lost rows)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.imports import pipeline, service, writes
from backoffice.imports.revert import revertible
from models import Customer
from models.imports import ImportBatch, ImportRowChange
from tests.imports.conftest import count, csv_bytes

ROWS, CHUNK = 50, 10


@pytest.fixture
def small_chunks(app):
    app.config["CRM_IMPORT_CHUNK_SIZE"] = CHUNK
    yield
    app.config.pop("CRM_IMPORT_CHUNK_SIZE")


def cancel_after(monkeypatch, chunks: int) -> None:
    """The cancel flag is seen set after ``chunks`` chunks (as if set from the batch page)."""
    seen = {"checks": 0}

    def flag(batch_id):
        seen["checks"] += 1
        return seen["checks"] >= chunks

    monkeypatch.setattr(pipeline, "cancel_requested", flag)
    monkeypatch.setattr(pipeline, "CANCEL_CHECK_SECONDS", 0)  # read after every chunk


def undo_rows(batch_id) -> int:
    changes = db.session.execute(select(ImportRowChange).where(
        ImportRowChange.batch_id == batch_id)).scalars()
    return len(list(writes.undo_entries(changes)))


@pytest.mark.parametrize("mode", ["atomic", "skip_bad"])
def test_cancel_in_progress(imports, small_chunks, monkeypatch, mode):
    prefix = f"C{mode[0]}{uuid.uuid4().hex[:5]}"
    rows = [[f"{prefix}{i:03d}", f"取消{i}", "B1"] for i in range(ROWS)]
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名", "支行"], rows),
                              "cancel.csv", "customers", mode=mode)
    cancel_after(monkeypatch, 2)
    summary = pipeline.commit(db.session, batch.id)
    assert summary["status"] == "cancelled"
    db.session.expire_all()
    stored = db.session.get(ImportBatch, batch.id)
    written = count(Customer, Customer.customer_no.like(f"{prefix}%"))
    if mode == "atomic":
        assert written == 0 and undo_rows(batch.id) == 0  # nothing of it stays
        assert not revertible(stored)
        return
    # skip-bad: the chunks committed before the flag was seen, no more, no less.
    assert written == 2 * CHUNK == stored.created_count == undo_rows(batch.id)
    assert stored.checkpoint_row == 2 * CHUNK + 1  # the header is row 1
    assert revertible(stored)
    monkeypatch.setattr(pipeline, "cancel_requested", lambda batch_id: False)
    resumed = pipeline.commit(db.session, batch.id)
    assert (resumed["status"], resumed["created"], resumed["rejected"]) == ("committed", ROWS, 0)
    numbers = db.session.execute(select(Customer.customer_no).where(
        Customer.customer_no.like(f"{prefix}%")).execution_options(crm_unscoped=True)).scalars()
    assert sorted(numbers) == sorted(r[0] for r in rows)  # 0 duplicates, 0 lost rows
    assert undo_rows(batch.id) == ROWS


def test_cancel_sets_the_flag_a_running_job_reads(imports):
    """The screen's cancel on a running batch sets the flag the pipeline polls."""
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名"], [["CF1", "旗"]]),
                              "flag.csv", "customers")
    batch.status = "running"
    db.session.commit()
    assert pipeline.cancel_requested(batch.id) is False
    service.cancel(db.session, batch, None)
    assert pipeline.cancel_requested(batch.id) is True


def test_resume_with_other_chunk_size_skips_committed_rows(imports, small_chunks, monkeypatch,
                                                            app):
    """The chunks of a resumed run may fall differently (the chunk size was changed between
    the runs): the rows at or before the checkpoint are not applied again, even inside a
    chunk that straddles it, and the counts are those of an uninterrupted run."""
    prefix = f"CR{uuid.uuid4().hex[:5]}"
    rows = [[f"{prefix}{i:03d}", f"续{i}", "B1"] for i in range(ROWS)]
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名", "支行"], rows),
                              "resume.csv", "customers", mode="skip_bad")
    cancel_after(monkeypatch, 2)
    assert pipeline.commit(db.session, batch.id)["status"] == "cancelled"
    assert db.session.get(ImportBatch, batch.id).checkpoint_row == 2 * CHUNK + 1
    app.config["CRM_IMPORT_CHUNK_SIZE"] = 7  # rows 16-22 now form one chunk (checkpoint: 21)
    monkeypatch.setattr(pipeline, "cancel_requested", lambda batch_id: False)
    resumed = pipeline.commit(db.session, batch.id)
    assert (resumed["status"], resumed["created"], resumed["updated"], resumed["unchanged"],
            resumed["rejected"]) == ("committed", ROWS, 0, 0, 0)
    assert count(Customer, Customer.customer_no.like(f"{prefix}%")) == ROWS
    assert undo_rows(batch.id) == ROWS
