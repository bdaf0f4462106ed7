"""Jobs on real Redis and real forking RQ workers, as in production.

Guards the production path end to end: a job enqueued through the helper is picked up by
``flask crm worker --burst`` (a separate process that forks a work horse per job), and its run row
shows the result and progress written from that other process. Each test uses its own queue name,
so parallel runs against one Redis do not take each other's jobs.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import delete, func, select

from backoffice.audit import chain_key
from backoffice.extensions import db
from jobs import demo_tasks
from jobs.queue import enqueue, redis_connection
from jobs.worker import run_worker
from models import Customer, JobRun
from tests.conftest import make_test_config
from tests.support import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rq_app(app, world, database_url):
    """An app on the suite's database with REDIS_URL and a queue of its own; cleans both up."""
    from backoffice import create_app

    redis_url = services.require_redis()
    queue_name = f"crm-test-{uuid.uuid4().hex}"
    job_app = create_app(make_test_config(
        database_url, REDIS_URL=redis_url, CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=120,
    ))
    with job_app.app_context():
        before = db.session.scalar(select(func.max(JobRun.id))) or 0
        yield job_app
        db.session.rollback()
        rq_ids = db.session.scalars(select(JobRun.rq_job_id).where(JobRun.id > before)).all()
        db.session.execute(delete(JobRun).where(JobRun.id > before))
        db.session.commit()
        db.session.remove()
    connection = redis_connection(redis_url)
    Queue(queue_name, connection=connection).delete(delete_jobs=True)  # also leaves rq:queues
    for pattern in [f"*{queue_name}*", *(f"*{rq_id}*" for rq_id in rq_ids if rq_id)]:
        keys = list(connection.scan_iter(match=pattern, count=1000))
        if keys:
            connection.delete(*keys)


def fresh(run_id: int) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def rq_job(app, run):
    from rq.job import Job

    return Job.fetch(run.rq_job_id, connection=redis_connection(app.config["REDIS_URL"]))


def has_worker_command(app) -> bool:
    crm = app.cli.commands.get("crm")
    return crm is not None and "worker" in getattr(crm, "commands", {})


def run_worker_process(app) -> tuple[int, int, str]:
    """``flask crm worker --burst`` in its own process, configured only through the environment.

    Returns the worker's pid, exit code and output.
    """
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not key.startswith("CRM_")
    }
    env.update(
        CRM_ENV="testing",
        CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        CRM_QUEUE_NAME=app.config["CRM_QUEUE_NAME"],
        SECRET_KEY="worker-test-secret",
        CRM_AUDIT_CHAIN_KEY=base64.b64encode(app.extensions[chain_key.EXTENSION]).decode(),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker", "--burst"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output, _ = worker.communicate(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return worker.pid, worker.returncode, output


@pytest.fixture
def in_process_worker(rq_app):
    """Work the queue in this process (still forking a horse per job); restores signal handlers."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def work():
        return run_worker(rq_app, burst=True)

    yield work
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_enqueued_job_runs_on_a_forking_worker_process(rq_app, in_process_worker):
    """Enqueue returns at once; ``flask crm worker --burst`` runs the job in a forked horse."""
    customers = db.session.scalar(select(func.count(Customer.id)))

    run = enqueue("jobs.demo_tasks.count_customers", chunk=1, description="rq test")
    run_id = run.id
    assert run.status == "queued" and run.rq_job_id

    if has_worker_command(rq_app):
        worker_pid, returncode, output = run_worker_process(rq_app)
        assert returncode == 0, output[-3000:]
    else:  # the CLI command is not there yet: the same bootstrap, in this process
        assert in_process_worker()
        worker_pid = os.getpid()

    run = fresh(run_id)
    assert run.status == "finished", run.error
    assert run.result["customers"] == customers >= 3
    assert run.done == run.total == customers
    assert run.started_at <= run.finished_at
    ran_in = run.result["ran_in"]["pid"]
    assert ran_in != os.getpid(), "the job ran in the test process"
    assert ran_in != worker_pid, "the job ran in the worker itself, not a forked work horse"

    job = rq_job(rq_app, run)
    assert job.get_status() == "finished"
    assert job.meta["job_run_id"] == run_id
    assert job.meta["done"] == job.meta["total"] == customers
    assert job.timeout == 120  # CRM_JOB_TIMEOUT, not RQ's 180 s default


def test_failure_in_the_horse_is_recorded_in_both_places(rq_app, in_process_worker):
    """A job that raises leaves the run ``failed`` with the traceback and the RQ job failed."""
    run = enqueue("jobs.demo_tasks.count_customers", chunk=0)
    run_id = run.id

    assert in_process_worker()

    run = fresh(run_id)
    assert run.status == "failed"
    assert "chunk must be at least 1" in run.error
    assert rq_job(rq_app, run).get_status() == "failed"


def test_a_killed_work_horse_still_marks_its_run_failed(rq_app, in_process_worker, monkeypatch):
    """A horse that dies by a signal cannot record anything; the worker records it instead."""

    def die_hard(progress):
        progress.update(1, total=2)
        os.kill(os.getpid(), signal.SIGKILL)

    die_hard.__module__ = "jobs.demo_tasks"  # a job for this test only; the fork inherits it
    monkeypatch.setattr(demo_tasks, "die_hard", die_hard, raising=False)
    run = enqueue("jobs.demo_tasks.die_hard")
    run_id = run.id

    assert in_process_worker()

    run = fresh(run_id)
    assert run.status == "failed"
    assert "work horse died" in run.error
    assert run.done == 1 and run.total == 2
    assert rq_job(rq_app, run).get_status() == "failed"


def test_worker_refuses_to_start_without_redis(app):
    """Inline configuration: a worker would wait forever on nothing, so it says why it won't."""
    with pytest.raises(RuntimeError, match="REDIS_URL is not set"):
        run_worker(app, burst=True)
