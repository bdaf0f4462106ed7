"""The enqueue helper and the runner in inline mode (no ``REDIS_URL``), as on a laptop.

Inline mode must go through the same runner as a worker: the run is recorded, progress lands on
the row while the job's transaction is open, failures are recorded without losing the row, and
only functions under ``jobs.`` can be named.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import delete, func, select, text

from backoffice.extensions import db
from jobs import demo_tasks, runner
from jobs.queue import enqueue
from models import Branch, Customer, JobRun, Staff


@pytest.fixture
def inline(app, world, db_session):
    """The suite's app (no REDIS_URL) in an app context; removes the runs a test made."""
    assert not app.config["REDIS_URL"]
    before = db.session.scalar(select(func.max(JobRun.id))) or 0
    yield db_session
    db.session.rollback()
    db.session.execute(delete(JobRun).where(JobRun.id > before))
    db.session.execute(delete(Branch).where(Branch.code.like("JOBT-%")))
    db.session.commit()


def demo_job(monkeypatch, fn):
    """Make ``fn`` a job named ``jobs.demo_tasks.<name>`` for one test (as if defined there)."""
    fn.__module__ = "jobs.demo_tasks"
    monkeypatch.setattr(demo_tasks, fn.__name__, fn, raising=False)
    return f"jobs.demo_tasks.{fn.__name__}"


def fresh(run_id: int) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def test_inline_job_runs_before_enqueue_returns(inline):
    """Without Redis the job has finished, result and progress recorded, when enqueue returns."""
    customers = db.session.scalar(select(func.count(Customer.id)))
    assert customers >= 3

    rm1 = db.session.scalar(select(Staff.id).where(Staff.username == "rm1"))

    run = enqueue("jobs.demo_tasks.count_customers", chunk=2, requested_by_id=rm1,
                  description="count for test")

    assert run.status == "finished", run.error
    assert run.requested_by_id == rm1
    assert run.name == "jobs.demo_tasks.count_customers" and run.rq_job_id is None
    assert run.result["customers"] == customers
    assert sum(run.result["by_status"].values()) == customers
    assert run.done == run.total == customers and run.percent == 100
    assert run.result["ran_in"]["pid"] == os.getpid()  # inline: this very process
    assert run.created_at <= run.started_at <= run.finished_at
    assert run.error is None


def test_inline_job_in_a_request_runs_like_a_worker(app, inline):
    """Inline, a job sees what a worker would: all records, not the requesting user's scope.

    (An anonymous request may see no customer at all; a worker has no request.) A job that should
    act for a user narrows the scope itself, and then does so identically in both modes.
    """
    customers = db.session.scalar(select(func.count(Customer.id)))

    with app.test_request_context("/"):
        run_id = enqueue("jobs.demo_tasks.count_customers").id

    assert fresh(run_id).result["customers"] == customers


def test_progress_is_visible_to_others_while_the_job_runs(inline, monkeypatch):
    """A progress update commits on its own: another connection sees it mid-job."""

    def peek(progress):
        progress.update(1, total=4, message="one of four")
        with db.engine.connect() as other:
            row = other.execute(
                text("SELECT done, total, message, status FROM job_run WHERE id = :id"),
                {"id": progress.job_run_id},
            ).one()
        return list(row)

    run = enqueue(demo_job(monkeypatch, peek))

    assert run.status == "finished", run.error
    assert run.result == [1, 4, "one of four", "running"]
    assert (run.done, run.total, run.message) == (1, 4, "one of four")


def test_progress_writes_are_throttled_until_the_total_is_reached(inline):
    """A loop may report every row; the row is written at most every ``interval`` seconds."""
    run = JobRun(name="jobs.demo_tasks.count_customers", status="running")
    db.session.add(run)
    db.session.commit()
    progress = runner.Progress(run.id, db.engine)
    progress.interval = 3600  # no timing in tests: only the first and the last write happen

    progress.update(1, total=10)
    progress.update(5)
    assert (fresh(run.id).done, fresh(run.id).total) == (1, 10)
    progress.update(10, message="all ten")
    assert (fresh(run.id).done, fresh(run.id).message) == (10, "all ten")


def test_job_work_and_finished_status_commit_together(inline, monkeypatch):
    """The job's writes are saved with its outcome; progress stuck behind its lock is not lost."""
    code = f"JOBT-{uuid.uuid4().hex[:8]}"

    def add_branch(code, progress):
        db.session.add(Branch(code=code, name="job test branch"))
        db.session.flush()  # on SQLite this job now holds the write lock
        progress.update(1, total=2, message="half way")
        return code

    run = enqueue(demo_job(monkeypatch, add_branch), code)

    assert run.status == "finished", run.error
    assert (run.done, run.total, run.message) == (1, 2, "half way")
    assert db.session.scalar(select(Branch.id).where(Branch.code == code)) is not None


def test_failing_job_is_recorded_and_its_work_rolled_back(inline, monkeypatch):
    """A failure leaves the row ``failed`` with the traceback, and no half-written data."""
    code = f"JOBT-{uuid.uuid4().hex[:8]}"

    def half_then_fail(code, progress):
        db.session.add(Branch(code=code, name="never saved"))
        db.session.flush()
        progress.update(3, total=10)
        raise RuntimeError("the pipeline broke at row 4")

    run = enqueue(demo_job(monkeypatch, half_then_fail), code)

    assert run.status == "failed"
    assert "RuntimeError: the pipeline broke at row 4" in run.error and "Traceback" in run.error
    assert run.finished_at is not None and run.result is None
    assert (run.done, run.total) == (3, 10)
    assert db.session.scalar(select(Branch.id).where(Branch.code == code)) is None


def test_bad_arguments_fail_the_run_not_the_caller(inline):
    """The demo job refuses a bad chunk size; enqueue still returns the recorded run."""
    run = enqueue("jobs.demo_tasks.count_customers", chunk=0)

    assert run.status == "failed"
    assert "chunk must be at least 1" in run.error
    assert fresh(run.id) is not None


def test_result_must_be_json(inline, monkeypatch):
    """A result the JSON column cannot hold fails the run with a clear error, not a half state."""

    def returns_a_set(progress):
        return {1, 2}

    run = enqueue(demo_job(monkeypatch, returns_a_set))

    assert run.status == "failed" and "not JSON serializable" in run.error


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "jobs.runner.execute",  # plumbing: would run any name it is given
        "jobs.queue.enqueue",
        "jobs.demo_tasks",  # a module, not a function
        "jobs.demo_tasks._private",
        "jobs.demo_tasks.select",  # imported into the module, not defined there
        "jobs.demo_tasks.Counter",
        "jobs.no_such_module.run",
        "jobs.demo_tasks.count_customers.__globals__",
        "",
    ],
)
def test_names_outside_jobs_are_refused(inline, name):
    """Only functions defined in modules under ``jobs.`` can be enqueued; nothing is written."""
    runs_before = db.session.scalar(select(func.count(JobRun.id)))

    with pytest.raises(runner.JobNameRefused):
        enqueue(name, "echo pwned")

    assert db.session.scalar(select(func.count(JobRun.id))) == runs_before


def test_runner_refuses_a_crafted_name_arriving_through_the_queue(inline):
    """A name that bypassed enqueue (written into Redis directly) is refused and recorded."""
    run = JobRun(name="os.system", status="queued")
    db.session.add(run)
    db.session.commit()

    with pytest.raises(runner.JobNameRefused):
        runner.execute(run.id, "os.system", ["echo pwned"], {})

    run = fresh(run.id)
    assert run.status == "failed" and "not a job name" in run.error


def test_arguments_must_be_json_data(inline):
    """Jobs take ids, not objects: inline mode refuses what RQ could not carry safely."""
    runs_before = db.session.scalar(select(func.count(JobRun.id)))

    with pytest.raises(TypeError):
        enqueue("jobs.demo_tasks.count_customers", chunk=object())

    assert db.session.scalar(select(func.count(JobRun.id))) == runs_before


def test_unreachable_redis_fails_the_run_instead_of_leaving_it_queued(inline, database_url):
    """If Redis refuses the job, the caller gets the error and the run says it never queued."""
    from backoffice import create_app
    from tests.conftest import make_test_config

    broken = create_app(make_test_config(database_url, REDIS_URL="redis://127.0.0.1:1/0"))
    with broken.app_context():
        with pytest.raises(Exception, match="(?i)connect"):
            enqueue("jobs.demo_tasks.count_customers")
        run = db.session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
        assert run.status == "failed" and "could not queue the job" in run.error
        db.session.remove()
