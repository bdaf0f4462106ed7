"""A killed import is never stuck: a real forking RQ worker, its work horse SIGKILLed mid-import.

Guards, in skip-bad and atomic modes:

* the worker survives and reports the dead horse: the batch is "interrupted" at once (no
  reader needed), the screen shows it with a Resume button, ``flask crm imports show`` says so;
* the whole machine is lost (worker and horse killed, nobody reports anything): once the
  heartbeat is older than ``CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS`` the screen and the CLI show
  the batch "interrupted", and not before;
* a resume, through the CLI or through the screen, ends "committed" with every row of the file
  exactly once (0 duplicates, 0 lost rows), with the file's values and one undo entry each;
* ``flask crm imports cancel`` stops a batch a worker is running: it ends "cancelled" between
  chunks, with the rows written recorded, and ``imports revert`` takes them back.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import select

from backoffice import stored_text
from backoffice.extensions import db
from backoffice.imports import service, writes
from jobs.queue import enqueue, redis_connection
from models import Customer
from models.imports import ImportBatch, ImportRowChange
from models.jobs import JobRun
from tests.conftest import make_test_config
from tests.imports.conftest import csv_bytes, remove_batches_data
from tests.imports.test_screens import post
from tests.jobs.test_imports_kill import (CHUNK, PAUSE, _state, children, fresh_batch,
                                         prefix_count, worker)
from tests.support import services

ROWS = 3000
HEARTBEAT_TIMEOUT = 3  # seconds: short, so that the lost-machine case is seen quickly


@pytest.fixture
def rq_app(app, world, database_url):
    from backoffice import create_app

    redis_url = services.require_redis()
    queue_name = f"crm-test-{uuid.uuid4().hex}"
    job_app = create_app(make_test_config(
        database_url, REDIS_URL=redis_url, CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=300,
        CRM_IMPORT_CHUNK_SIZE=CHUNK, CRM_IMPORT_CHUNK_PAUSE=PAUSE,
        CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS=HEARTBEAT_TIMEOUT))
    with job_app.app_context():
        yield job_app
        db.session.remove()
    Queue(queue_name, connection=redis_connection(redis_url)).delete(delete_jobs=True)


def start_worker(app) -> subprocess.Popen:
    return worker(app, CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS=HEARTBEAT_TIMEOUT)


def kill_horse_only(process: subprocess.Popen, batch_id=None) -> None:
    """SIGKILL the work horse and let its worker see it die, report it and (burst) exit."""
    deadline = time.monotonic() + 30
    horses = children(process.pid)
    while not horses:
        assert time.monotonic() < deadline, "no work horse"
        time.sleep(0.02)
        horses = children(process.pid)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=60) is not None


def lose_machine(process: subprocess.Popen, batch_id=None) -> None:
    """SIGKILL the worker first, then its horse: nobody is left to report anything."""
    horses = children(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in horses):
        assert time.monotonic() < deadline, "the work horse survived SIGKILL"
        time.sleep(0.05)


def cli(app, *args) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["crm", "imports", *map(str, args)])
    return result.exit_code, result.output


def show(app, batch_id) -> dict:
    code, output = cli(app, "show", batch_id)
    assert code == 0, output
    return json.loads(output)


def screen(app, client, batch_id) -> str:
    page = client.get(f"/imports/batch/{batch_id}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def start_and_stop(rq_app, mode: str, prefix: str, stop) -> tuple[int, list]:
    """Upload ``ROWS`` customers, have a worker commit them, ``stop(process, batch_id)`` it
    part-way."""
    rows = [[f"{prefix}{i:05d}", f"断{i}", f"139{i:08d}", "B1"] for i in range(ROWS)]
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名", "手机号", "支行"], rows),
                              "interrupted.csv", "customers", mode=mode)
    batch_id = batch.id
    enqueue("jobs.imports.commit", batch_id, description="interrupted test")
    process = start_worker(rq_app)
    deadline = time.monotonic() + 120
    running_since = None
    while time.monotonic() < deadline:
        current = fresh_batch(batch_id)
        if mode == "skip_bad" and current.checkpoint_row:
            break
        if mode == "atomic" and current.status == "running":
            running_since = running_since or time.monotonic()
            if time.monotonic() - running_since >= 1.0:
                break
        time.sleep(0.05)
    stop(process, batch_id)
    written, distinct = prefix_count(prefix)
    assert written == distinct
    if mode == "atomic":
        assert written == 0
    else:
        assert 0 < written < ROWS
    return batch_id, rows


def assert_every_row_once(batch_id, prefix, rows) -> None:
    done = fresh_batch(batch_id)
    assert done.status == "committed", done.message
    assert (done.created_count, done.rejected_count, done.total_rows) == (ROWS, 0, ROWS)
    assert prefix_count(prefix) == (ROWS, ROWS)  # 0 duplicates, 0 lost rows
    undo = list(writes.undo_entries(db.session.execute(select(ImportRowChange).where(
        ImportRowChange.batch_id == batch_id)).scalars()))
    assert sorted(entry.row_number for entry in undo) == list(range(2, ROWS + 2))
    stored = db.session.execute(select(Customer).where(
        Customer.customer_no.like(f"{prefix}%")).order_by(Customer.customer_no)
        .execution_options(crm_unscoped=True)).scalars().all()
    assert [(c.customer_no, c.name, c.mobile) for c in stored] == \
        [(r[0], r[1], r[2]) for r in rows]


def resume(app, rq_app, client, batch_id, how: str) -> None:
    if how == "cli":
        code, output = cli(rq_app, "resume", batch_id)  # runs in this process
        assert code == 0, output
    else:
        page = screen(app, client, batch_id)
        assert 'id="import-resume"' in page
        assert post(client, f"/imports/batch/{batch_id}/run/resume").status_code == 302


@pytest.mark.parametrize("mode,how", [("skip_bad", "cli"), ("atomic", "screen")])
def test_worker_reports_the_dead_horse(app, rq_app, client_as, mode, how):
    prefix = f"IW{mode[0].upper()}{uuid.uuid4().hex[:4]}"
    client = client_as("operator")
    batch_id = None
    try:
        batch_id, rows = start_and_stop(rq_app, mode, prefix, kill_horse_only)
        # No reader has looked yet: the worker's report alone made it interrupted.
        killed = fresh_batch(batch_id)
        assert killed.status == "interrupted", killed.message
        run = db.session.get(JobRun, killed.job_run_id)
        assert run.status == "failed" and "work horse died" in run.error
        shown = show(rq_app, batch_id)
        assert shown["status"] == "interrupted" and "resume" in shown["actions"]
        assert "dry-run" not in shown["actions"] or mode == "atomic"
        page = screen(app, client, batch_id)
        assert 'id="import-interrupted"' in page and 'id="import-resume"' in page
        assert 'id="import-commit"' not in page
        resume(app, rq_app, client, batch_id, how)
        assert_every_row_once(batch_id, prefix, rows)
    finally:
        if batch_id is not None:
            remove_batches_data([batch_id])


@pytest.mark.parametrize("mode,how", [("skip_bad", "screen"), ("atomic", "cli")])
def test_lost_heartbeat_without_any_report(app, rq_app, client_as, monkeypatch, mode, how):
    monkeypatch.setitem(app.config, "CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS", HEARTBEAT_TIMEOUT)
    prefix = f"IH{mode[0].upper()}{uuid.uuid4().hex[:4]}"
    client = client_as("operator")
    batch_id = None
    try:
        batch_id, rows = start_and_stop(rq_app, mode, prefix, lose_machine)
        lost = fresh_batch(batch_id)
        assert lost.status == "running"  # nobody said anything
        assert db.session.get(JobRun, lost.job_run_id).status == "running"
        beat = lost.heartbeat_at
        assert beat is not None
        # Before the timeout the batch is taken for alive; after it, for lost.
        from models.base import utcnow

        if (utcnow() - beat).total_seconds() < HEARTBEAT_TIMEOUT - 1:
            assert show(rq_app, batch_id)["status"] == "running"
        time.sleep(max(0.0, HEARTBEAT_TIMEOUT + 0.5 - (utcnow() - beat).total_seconds()))
        page = screen(app, client, batch_id)
        assert 'id="import-interrupted"' in page
        assert f"{beat:%Y-%m-%d %H:%M:%S}" in page  # the reason: no heartbeat since then
        shown = show(rq_app, batch_id)
        assert shown["status"] == "interrupted"
        resume(app, rq_app, client, batch_id, how)
        assert_every_row_once(batch_id, prefix, rows)
    finally:
        if batch_id is not None:
            remove_batches_data([batch_id])


def test_cli_cancel_stops_a_running_worker_job(rq_app):
    prefix = f"IC{uuid.uuid4().hex[:4]}"
    batch_id = None
    try:
        def cancel(process, batch_id):
            code, output = cli(rq_app, "cancel", batch_id)
            assert code == 0, output
            assert "cancellation requested" in output
            assert process.wait(timeout=120) == 0

        batch_id, _ = start_and_stop(rq_app, "skip_bad", prefix, cancel)
        stopped = fresh_batch(batch_id)
        assert stopped.status == "cancelled" and not stopped.cancel_requested
        written, _ = prefix_count(prefix)
        assert 0 < written < ROWS and written == stopped.created_count
        assert str(stopped.checkpoint_row) in stored_text.show(stopped.message)
        code, output = cli(rq_app, "revert", batch_id)
        assert code == 0, output
        assert json.loads(output)["removed"] == written
        assert prefix_count(prefix) == (0, 0)
        assert fresh_batch(batch_id).status == "reverted"
    finally:
        if batch_id is not None:
            remove_batches_data([batch_id])


def test_imports_list_shows_the_interrupted_batch(rq_app, imports):
    """``imports list --status interrupted`` finds a batch a dead job left running."""
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名"], [["ILS1", "列"]]),
                              "list.csv", "customers")
    run = JobRun(name="jobs.imports.commit", status="failed", error="the work horse died")
    db.session.add(run)
    db.session.flush()
    batch.status, batch.job_run_id = "running", run.id
    db.session.commit()
    code, output = cli(rq_app, "list", "--status", "interrupted")
    assert code == 0, output
    listed = [json.loads(line) for line in output.splitlines()]
    assert batch.id in [item["batch_id"] for item in listed]
    assert db.session.get(ImportBatch, batch.id).status == "interrupted"
