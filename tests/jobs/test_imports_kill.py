"""A real forking RQ worker SIGKILLed in the middle of an import, then the import run again.

Guards the issue's promise for killed jobs (the horse too: RQ puts it in a process group of
its own, so it is killed by pid): the batch is resumable (skip-bad: from the last
committed chunk) or left with nothing written (atomic), and re-running it ends in the same state
as an uninterrupted run: every row of the file exactly once (0 duplicates, 0 lost rows), each
with the file's values, and one undo row per created customer.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import func, select

from backoffice.audit import chain_key
from backoffice.extensions import db
from backoffice.imports import service, writes
from jobs.queue import enqueue, redis_connection
from models import Customer
from models.imports import ImportBatch, ImportRowChange
from tests.conftest import make_test_config
from tests.imports.conftest import csv_bytes, remove_batches_data
from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
ROWS = 4000
CHUNK = 100
PAUSE = 0.1  # seconds after each chunk: the import lasts long enough to be killed mid-way


@pytest.fixture
def rq_app(app, world, database_url):
    from backoffice import create_app

    redis_url = services.require_redis()
    queue_name = f"crm-test-{uuid.uuid4().hex}"
    job_app = create_app(make_test_config(database_url, REDIS_URL=redis_url,
                                          CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=300,
                                          CRM_IMPORT_CHUNK_SIZE=CHUNK,
                                          CRM_IMPORT_CHUNK_PAUSE=PAUSE))
    with job_app.app_context():
        yield job_app
        db.session.remove()
    Queue(queue_name, connection=redis_connection(redis_url)).delete(delete_jobs=True)


def worker(app, **settings) -> subprocess.Popen:
    """``flask crm worker --burst`` in a process of its own, on the test's database and queue
    (``settings``: more ``CRM_*`` settings for it, as the test app has them)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not k.startswith("CRM_")}
    env.update(CRM_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], CRM_QUEUE_NAME=app.config["CRM_QUEUE_NAME"],
               CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
               CRM_IMPORT_CHUNK_SIZE=str(CHUNK), CRM_IMPORT_CHUNK_PAUSE=str(PAUSE),
               SECRET_KEY="worker-test-secret",
               CRM_ENCRYPTION_KEYS=__import__("json").dumps(
                   app.config["CRM_ENCRYPTION_KEYS"]),
               CRM_PRIMARY_KEY_ID=app.config["CRM_PRIMARY_KEY_ID"],
               CRM_BLIND_INDEX_KEY=app.config["CRM_BLIND_INDEX_KEY"],
               # the log rows the worker writes join the test app's chain: the same key
               CRM_AUDIT_CHAIN_KEY=base64.b64encode(app.extensions[chain_key.EXTENSION]).decode(),
               **{name: str(value) for name, value in settings.items()})
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker",
                             "--burst"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse, and wait until both are gone.

    RQ's horse calls ``setpgrp``: killing the worker's process group alone would leave the
    horse running the import to its end (and holding SQLite's write lock meanwhile).
    """
    horses = children(process.pid)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in horses):
        assert time.monotonic() < deadline, "the work horse survived SIGKILL"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def fresh_batch(batch_id) -> ImportBatch:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(ImportBatch, batch_id)


def rows_reported(job_run_id) -> int:
    """The rows the running job reported (its progress is committed on its own connection)."""
    from models.jobs import JobRun

    db.session.rollback()
    return db.session.execute(select(JobRun.done).where(JobRun.id == job_run_id)).scalar() or 0


def prefix_count(prefix) -> tuple[int, int]:
    db.session.rollback()
    rows = db.session.execute(select(func.count(), func.count(Customer.customer_no.distinct()))
                              .where(Customer.customer_no.like(f"{prefix}%"))
                              .execution_options(crm_unscoped=True)).one()
    return rows[0], rows[1]


@pytest.mark.parametrize("mode", ["skip_bad", "atomic"])
def test_killed_worker_then_rerun_equals_an_uninterrupted_run(rq_app, mode):
    prefix = f"K{mode[0].upper()}{uuid.uuid4().hex[:4]}"
    rows = [[f"{prefix}{i:05d}", f"杀{i}", f"139{i:08d}", "B1"] for i in range(ROWS)]
    batch, _ = service.upload(db.session, csv_bytes(["客户号", "姓名", "手机号", "支行"], rows),
                              "kill.csv", "customers", mode=mode)
    batch_id = batch.id
    try:
        enqueue("jobs.imports.commit", batch_id, description="kill test")
        process = worker(rq_app)
        deadline = time.monotonic() + 120
        running_since = None
        while time.monotonic() < deadline:
            current = fresh_batch(batch_id)
            if mode == "skip_bad" and current.checkpoint_row:
                break
            if mode == "atomic" and current.status == "running":
                # Some chunks written inside the open transaction: progress says so on
                # PostgreSQL; SQLite's write lock holds progress back, so give it a second.
                running_since = running_since or time.monotonic()
                if time.monotonic() - running_since >= 1.0 or (
                        current.job_run_id and rows_reported(current.job_run_id) >= 3 * CHUNK):
                    break
            time.sleep(0.05)
        kill_worker(process)
        killed = fresh_batch(batch_id)
        # "interrupted" when the dying worker still reported its horse's death
        assert killed.status in ("running", "interrupted"), \
            "the import finished before it could be killed"
        written, distinct = prefix_count(prefix)
        assert written == distinct
        if mode == "atomic":
            assert written == 0  # never half-applied
        else:
            assert 0 < written < ROWS and written == killed.created_count  # whole chunks only

        enqueue("jobs.imports.commit", batch_id, description="kill test, again")
        again = worker(rq_app)
        assert again.wait(timeout=300) == 0
        done = fresh_batch(batch_id)
        assert done.status == "committed", done.message
        assert (done.created_count, done.rejected_count) == (ROWS, 0)
        assert prefix_count(prefix) == (ROWS, ROWS)  # 0 duplicates, 0 lost rows
        undo = list(writes.undo_entries(db.session.execute(select(ImportRowChange).where(
            ImportRowChange.batch_id == batch_id)).scalars()))
        assert sorted(entry.row_number for entry in undo) == list(range(2, ROWS + 2))
        stored = db.session.execute(select(Customer).where(
            Customer.customer_no.like(f"{prefix}%")).order_by(Customer.customer_no)
            .execution_options(crm_unscoped=True)).scalars().all()
        assert [(c.customer_no, c.name, c.mobile) for c in stored] == \
            [(r[0], r[1], r[2]) for r in rows]
    finally:
        remove_batches_data([batch_id])
