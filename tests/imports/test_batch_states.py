"""The state rules of a batch, enforced in the service for every caller (screen, CLI, job).

Guards: a dry run on a committed, running, queued or reverted batch, or on one that stopped with
chunks written, is refused and changes no count (a dry run used to rewrite a committed batch's
counts, and a resumed commit then reported more rows created than the file holds); cancelling a
running batch really stops it between chunks, with what was written recorded; a batch whose job
is dead is interrupted when read, and cancelling it abandons it at once; reverting an older
batch after a newer one changed the same rows writes nothing, names the rows and the newer
batch, and works once the newer one is reverted; a revert is not "reverted" while rows it
created are still there.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import select

from backoffice import stored_text
from backoffice.extensions import db
from backoffice.imports import liveness, pipeline, service
from backoffice.imports import revert as reverting
from models import Account, AuditLog, Customer, Product
from models.base import utcnow
from models.imports import ImportBatch
from models.jobs import JobRun
from tests.imports.conftest import commit, count, csv_bytes, customers_with_prefix, upload
from tests.imports.test_screens import post
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "职业", "支行"]


def rows_of(prefix: str, n: int, job: str = "教师") -> list[list]:
    return [[f"{prefix}{i:03d}", f"状态{i}", job, "B1"] for i in range(n)]


def fresh(batch_id) -> ImportBatch:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(ImportBatch, batch_id)


def counts(batch) -> tuple:
    return (batch.status, batch.total_rows, batch.created_count, batch.updated_count,
            batch.unchanged_count, batch.rejected_count)


@pytest.mark.parametrize("status", ["committed", "running", "queued", "reverted"])
def test_dry_run_refused_and_counts_kept(imports, status):
    prefix = f"DR{uuid.uuid4().hex[:4]}"
    result = commit(csv_bytes(HEADER, rows_of(prefix, 6)), mode="skip_bad")
    batch = fresh(result["batch_id"])
    batch.status = status
    db.session.commit()
    before = counts(batch)
    with pytest.raises(service.ImportRefused) as refused:
        service.check_dry_run(batch)
    assert status in str(refused.value)
    with pytest.raises(service.ImportRefused):  # a new mapping means a new dry run too
        service.set_mapping(db.session, batch, dict(batch.mapping))
    db.session.rollback()
    outcome = pipeline.dry_run(db.session, batch.id)  # what the job runs: refused as well
    assert outcome["refused"] and outcome["status"] == status
    assert counts(fresh(batch.id)) == before


def test_dry_run_on_a_stopped_batch_with_written_rows_cannot_inflate_its_counts(
        imports, chunk_size, monkeypatch):
    """The 280,000-for-200,000 case, small: a skip-bad batch stopped after 2 of 5 chunks; a dry
    run is refused, and the resume reports each row of the file once."""
    chunk_size(10)
    prefix = f"DI{uuid.uuid4().hex[:4]}"
    batch = upload(csv_bytes(HEADER, rows_of(prefix, 50)), mode="skip_bad")
    seen = {"n": 0}

    def stop_after_two(batch_id):
        seen["n"] += 1
        return seen["n"] >= 2

    monkeypatch.setattr(pipeline, "cancel_requested", stop_after_two)
    monkeypatch.setattr(pipeline, "CANCEL_CHECK_SECONDS", 0)
    assert pipeline.commit(db.session, batch.id)["status"] == "cancelled"
    stopped = fresh(batch.id)
    assert stopped.created_count == 20  # and what was written is said:
    assert "21" in stored_text.show(stopped.message)
    with pytest.raises(service.ImportRefused) as refused:
        service.check_dry_run(stopped)
    assert "21" in str(refused.value)  # the checkpoint row
    assert pipeline.dry_run(db.session, batch.id)["refused"]
    assert fresh(batch.id).created_count == 20
    monkeypatch.setattr(pipeline, "cancel_requested", lambda batch_id: False)
    resumed = pipeline.commit(db.session, batch.id)
    assert (resumed["status"], resumed["created"], resumed["rows"]) == ("committed", 50, 50)
    assert len(customers_with_prefix(prefix)) == 50


def test_dry_run_refused_on_the_screen(app, cleanup, client_as):
    client = client_as("operator")
    with app.app_context():
        prefix = f"DS{uuid.uuid4().hex[:4]}"
        batch_id = commit(csv_bytes(HEADER, rows_of(prefix, 3)))["batch_id"]
        db.session.remove()
    response = post(client, f"/imports/batch/{batch_id}/run/dryrun")
    assert response.status_code == 302
    page = client.get(f"/imports/batch/{batch_id}").get_data(as_text=True)
    assert "import-dryrun" not in page  # no such button on a committed batch
    with app.app_context():
        batch = db.session.get(ImportBatch, batch_id)
        assert (batch.status, batch.created_count, batch.total_rows) == ("committed", 3, 3)
        from flask_babel import lazy_gettext as _l

        from jobs.runner import stored_message

        runs = db.session.execute(select(JobRun.id).where(JobRun.message == stored_message(
            _l("Import #%(batch)s: %(step)s", batch=batch_id, step=_l("dry run"))))).all()
        assert runs == []  # refused before anything was queued
        logged = db.session.execute(select(AuditLog.detail).where(
            AuditLog.action == "import_action_refused",
            AuditLog.entity_id == str(batch_id))).scalars().all()
        assert logged and "dryrun" in logged[-1]  # the attempt is in the operation log
        db.session.remove()


def test_cancel_of_a_running_batch_stops_it_between_chunks(app, imports, chunk_size):
    """A real cancel: the batch runs in another thread (its own session), the flag is set
    through the service while it runs, and the run ends "cancelled" with the chunks it
    committed recorded, no more."""
    chunk_size(20)
    app.config["CRM_IMPORT_CHUNK_PAUSE"] = 0.05
    prefix = f"CX{uuid.uuid4().hex[:4]}"
    batch = upload(csv_bytes(HEADER, rows_of(prefix, 600)), mode="skip_bad")
    batch_id, outcome = batch.id, {}

    def run():
        with app.app_context():
            try:
                outcome.update(pipeline.commit(db.session, batch_id))
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while fresh(batch_id).checkpoint_row < 60:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)
        assert service.cancel(db.session, fresh(batch_id), None) == "running"
        thread.join(60)
    finally:
        app.config.pop("CRM_IMPORT_CHUNK_PAUSE")
        thread.join(60)
    assert outcome["status"] == "cancelled"
    stopped = fresh(batch_id)
    written = count(Customer, Customer.customer_no.like(f"{prefix}%"))
    assert 60 <= written < 600
    assert written == stopped.created_count == stopped.checkpoint_row - 1
    assert str(stopped.checkpoint_row) in stored_text.show(stopped.message)
    assert not stopped.cancel_requested
    assert reverting.revertible(stopped)


def test_cancel_of_a_queued_batch_ends_it_before_it_starts(imports):
    prefix = f"CQ{uuid.uuid4().hex[:4]}"
    batch = upload(csv_bytes(HEADER, rows_of(prefix, 5)))
    pipeline.dry_run(db.session, batch.id)
    assert service.request_commit(db.session, fresh(batch.id), None) == "queued"
    assert service.cancel(db.session, fresh(batch.id), None) == "queued"  # flag set
    assert pipeline.commit(db.session, batch.id)["status"] == "cancelled"  # the job comes
    assert customers_with_prefix(prefix) == []


def test_dead_job_interrupts_and_cancel_abandons(imports, app):
    """A running batch whose job run failed is interrupted when read; one with no run and an
    old heartbeat too, but not before the timeout; cancel then abandons it at once."""
    prefix = f"DJ{uuid.uuid4().hex[:4]}"
    batch = upload(csv_bytes(HEADER, rows_of(prefix, 3)), mode="skip_bad")
    run = JobRun(name="jobs.imports.commit", status="failed", error="Traceback\nKilledHorse: 9")
    db.session.add(run)
    db.session.flush()
    batch.status, batch.job_run_id, batch.heartbeat_at = "running", run.id, utcnow()
    db.session.commit()
    batch = liveness.refresh(db.session, fresh(batch.id))
    assert batch.status == "interrupted" and "KilledHorse: 9" in stored_text.show(batch.message)

    other = upload(csv_bytes(HEADER, rows_of(prefix + "H", 3)), mode="atomic")
    other.status, other.heartbeat_at = "running", utcnow() - dt.timedelta(seconds=200)
    db.session.commit()
    app.config["CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS"] = 300
    assert liveness.refresh(db.session, fresh(other.id)).status == "running"
    app.config["CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS"] = 100
    try:
        assert liveness.sweep(db.session) == [other.id]
    finally:
        app.config.pop("CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS")
    assert fresh(other.id).status == "interrupted"
    with pytest.raises(service.ImportRefused):
        service.request_commit(db.session, fresh(other.id), None)  # resume, not commit
    assert service.cancel(db.session, fresh(other.id), None) == "cancelled"
    abandoned = fresh(other.id)
    shown = stored_text.show(abandoned.message)
    assert str(pipeline.kept_rows(abandoned)) in shown  # nothing written (atomic)


HEADER_ID = ["客户号", "姓名", "职业", "身份证号"]


def test_older_batch_revert_waits_for_the_newer_batch(imports):
    """Batch A creates 4 customers and updates 2; batch B then updates 3 of A's rows. Reverting
    A first writes nothing and names B and the rows; reverting B, then A, restores all."""
    prefix = f"RO{uuid.uuid4().hex[:4]}"
    ids = [make_prc_id(dt.date(1980, 1, 2), 500 + i) for i in range(6)]
    base = commit(csv_bytes(HEADER_ID, [[f"{prefix}{i}", f"原{i}", "教师", ids[i]]
                                        for i in (4, 5)]))
    assert base["created"] == 2
    a_rows = [[f"{prefix}{i}", f"甲{i}", "医生", ids[i]] for i in range(6)]
    a = commit(csv_bytes(HEADER_ID, a_rows))
    assert (a["created"], a["updated"]) == (4, 2)
    b_rows = [[f"{prefix}{i}", f"乙{i}", "律师", ids[i]] for i in (1, 3, 5)]
    b = commit(csv_bytes(HEADER_ID, b_rows))
    assert b["updated"] == 3

    with pytest.raises(reverting.Blocked) as blocked:
        reverting.revert(db.session, a["batch_id"])
    later = blocked.value.blockers
    assert list(later) == [b["batch_id"]]
    # rows 3, 5, 7 of A's file (customers 1, 3, 5) are rows 2, 3, 4 of B's
    assert [(r["row"], r["later_row"]) for r in later[b["batch_id"]]] == [(3, 2), (5, 3), (7, 4)]
    message = blocked.value.errors["status"]
    assert f"#{b['batch_id']}" in message and "3→2" in message and "7→4" in message
    assert fresh(a["batch_id"]).status == "committed"
    assert {c.customer_no: c.name for c in customers_with_prefix(prefix)}[f"{prefix}1"] == "乙1"

    assert reverting.revert(db.session, b["batch_id"])["status"] == "reverted"
    outcome = reverting.revert(db.session, a["batch_id"])
    assert (outcome["status"], outcome["removed"], outcome["restored"], outcome["conflicts"]) \
        == ("reverted", 4, 2, 0)
    left = {c.customer_no: (c.name, c.occupation) for c in customers_with_prefix(prefix)}
    assert left == {f"{prefix}4": ("原4", "教师"), f"{prefix}5": ("原5", "教师")}


def test_revert_is_not_done_while_created_rows_remain(imports):
    """A created customer that gained an account stays: the batch is not "reverted", its
    message names the row and why; once the account is gone, reverting again finishes."""
    prefix = f"RL{uuid.uuid4().hex[:4]}"
    a = commit(csv_bytes(HEADER, rows_of(prefix, 3)))
    held = customers_with_prefix(prefix)[1]  # row 3 of the file
    product_id = db.session.execute(select(Product.id).limit(1)).scalar()
    account = Account(account_no=f"62220099{uuid.uuid4().int % 10**11:011d}",
                      customer_id=held.id, product_id=product_id, balance=0,
                      opened_on=dt.date(2024, 1, 2), status="open")
    db.session.add(account)
    db.session.commit()
    outcome = reverting.revert(db.session, a["batch_id"])
    assert (outcome["status"], outcome["removed"], outcome["created_left"]) == ("committed", 2, 1)
    assert outcome["conflict_rows"] == [{"row": 3, "id": held.id, "op": "create",
                                         "reason": "accounts"}]
    batch = fresh(a["batch_id"])
    assert batch.status == "committed"
    shown = stored_text.show(batch.message)
    assert str(reverting._left_rows(outcome["conflict_rows"])) in shown  # row 3, why
    assert reverting.revertible(batch)
    db.session.delete(db.session.get(Account, account.id))
    db.session.commit()
    again = reverting.revert(db.session, a["batch_id"])
    assert (again["status"], again["removed"], again["conflicts"]) == ("reverted", 1, 0)
    assert customers_with_prefix(prefix) == []


def test_a_job_that_raises_leaves_its_batch_interrupted(imports, monkeypatch):
    """The runner tells ``jobs.imports`` that the run failed: the batch is interrupted at once
    (not left "running"), and a resume then commits it."""
    from jobs.queue import enqueue

    prefix = f"JR{uuid.uuid4().hex[:4]}"
    batch = upload(csv_bytes(HEADER, rows_of(prefix, 4)))
    original = pipeline.Run.execute

    def broken(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline.Run, "execute", broken)
    run = enqueue("jobs.imports.commit", batch.id)
    assert run.status == "failed"
    stopped = fresh(batch.id)
    assert stopped.status == "interrupted"
    assert "disk on fire" in stored_text.show(stopped.message)
    assert stopped.job_run_id == run.id
    monkeypatch.setattr(pipeline.Run, "execute", original)
    service.resume(db.session, stopped, None)
    assert enqueue("jobs.imports.commit", batch.id).status == "finished"
    assert fresh(batch.id).status == "committed"
    assert len(customers_with_prefix(prefix)) == 4


def test_revert_order_on_the_screen(app, cleanup, client_as):
    """The revert button of the older batch answers with the newer batch and its rows and a
    button to revert it first; in that order both reverts go through."""
    prefix = f"RS{uuid.uuid4().hex[:4]}"
    with app.app_context():
        a = commit(csv_bytes(HEADER, rows_of(prefix, 3)))["batch_id"]
        b = commit(csv_bytes(HEADER, rows_of(prefix, 2, job="医生")))["batch_id"]
        db.session.remove()
    client = client_as("operator")
    response = post(client, f"/imports/batch/{a}/run/revert")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="import-revert-blockers"' in page
    assert f'action="/imports/batch/{b}/run/revert"' in page
    assert "2→2" in page and "3→3" in page  # rows 2 and 3 of A, changed by rows 2, 3 of B
    with app.app_context():
        assert db.session.get(ImportBatch, a).status == "committed"
        db.session.remove()
    assert post(client, f"/imports/batch/{b}/run/revert").status_code == 302
    assert post(client, f"/imports/batch/{a}/run/revert").status_code == 302
    with app.app_context():
        assert [db.session.get(ImportBatch, i).status for i in (a, b)] == ["reverted"] * 2
        assert customers_with_prefix(prefix) == []
        db.session.remove()


def test_sweep_command_interrupts_only_silent_batches(app, imports, monkeypatch):
    """``flask crm imports sweep`` (cron): a running batch silent past the timeout becomes
    interrupted; one that beat recently stays running."""
    import json

    monkeypatch.setitem(app.config, "CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS", 60)
    prefix = f"SW{uuid.uuid4().hex[:4]}"
    silent = upload(csv_bytes(HEADER, rows_of(prefix, 2)))
    alive = upload(csv_bytes(HEADER, rows_of(prefix + "A", 2)))
    silent.status, silent.heartbeat_at = "running", utcnow() - dt.timedelta(seconds=61)
    alive.status, alive.heartbeat_at = "running", utcnow() - dt.timedelta(seconds=30)
    db.session.commit()
    silent_id, alive_id = silent.id, alive.id
    result = app.test_cli_runner().invoke(args=["crm", "imports", "sweep"])
    assert result.exit_code == 0, result.output
    assert silent_id in json.loads(result.output)["interrupted"]
    assert alive_id not in json.loads(result.output)["interrupted"]
    assert (fresh(silent_id).status, fresh(alive_id).status) == ("interrupted", "running")
    fresh(alive_id).status = "failed"  # not left running for other tests' sweeps
    db.session.commit()
