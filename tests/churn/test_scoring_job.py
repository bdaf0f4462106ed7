"""The scoring job on the production path: enqueued on real Redis, run by a forking RQ worker.

Guards that ``jobs.scoring.score_customers`` works outside the request/test process (own app
context, unscoped reads, its own commit) and reports its progress on the JobRun row. With no
active model the job still scores every active customer from the rule signals alone. Uses its own
queue name on the Redis database given by CRM_TEST_REDIS_URL; tasks and runs it creates are
deleted afterwards, and the score table is put back as it was (the job scores every customer, so
the scores other tests planted are written back, not the table cleared).
"""
from __future__ import annotations

import signal
import uuid

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import make_test_config
from tests.support import kept_rows, services


@pytest.fixture
def rq_app(app, world, database_url):
    from rq import Queue

    from backoffice import create_app
    from backoffice.extensions import db
    from jobs.queue import redis_connection
    from models import FollowUp, JobRun
    from models.churn import ChurnScore

    redis_url = services.require_redis()
    queue_name = f"crm-test-churn-{uuid.uuid4().hex}"
    job_app = create_app(make_test_config(database_url, REDIS_URL=redis_url,
                                          CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=300))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with job_app.app_context():
        before_run = db.session.scalar(select(func.max(JobRun.id))) or 0
        before_task = db.session.scalar(select(func.max(FollowUp.id))) or 0
        scores = kept_rows.snapshot(db.session, ChurnScore.__table__)
        db.session.commit()
        yield job_app
        db.session.rollback()
        db.session.execute(delete(FollowUp).where(FollowUp.id > before_task,
                                                  FollowUp.task_type == "retention"))
        kept_rows.put_back(db.session, scores)
        db.session.execute(delete(JobRun).where(JobRun.id > before_run))
        db.session.commit()
        db.session.remove()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    Queue(queue_name, connection=redis_connection(redis_url)).delete(delete_jobs=True)


def test_scoring_job_runs_on_a_real_rq_worker(rq_app):
    """Enqueued, queued in Redis, run in a forked work horse: every active customer scored."""
    from backoffice.extensions import db
    from jobs.queue import enqueue
    from jobs.worker import run_worker
    from models import Customer, JobRun
    from models.churn import ChurnScore

    run = enqueue("jobs.scoring.score_customers", description="churn scoring (test)",
                  as_of="2026-03-02T02:00:00")
    run_id = run.id
    assert run.status == "queued" and run.rq_job_id

    assert run_worker(rq_app, burst=True)

    db.session.expire_all()
    run = db.session.get(JobRun, run_id)
    assert run.status == "finished", run.error
    scored_statuses = ("active", "dormant")
    expected = db.session.scalar(select(func.count(Customer.id)).where(
        Customer.status.in_(scored_statuses)))
    assert expected >= 3
    assert run.result["customers"] == expected == run.done == run.total
    assert sum(run.result["tiers"].values()) == expected
    written = db.session.scalar(select(func.count(ChurnScore.customer_id)).join(
        Customer, Customer.id == ChurnScore.customer_id).where(
        Customer.status.in_(scored_statuses)))
    assert written == expected
