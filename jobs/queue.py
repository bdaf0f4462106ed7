"""The one way to start a job: :func:`enqueue`, the same call with or without Redis.

With ``REDIS_URL`` set the job goes to RQ for a forking worker on any machine; without it the same
runner executes it inline before ``enqueue`` returns. Callers get a ``JobRun`` either way and read
status and progress from it, so a screen does not care which mode it runs in.
"""
from __future__ import annotations

import json
import logging
import uuid

from flask import current_app

from backoffice.extensions import db
from jobs import runner
from models.base import utcnow
from models.jobs import JobRun

log = logging.getLogger(__name__)
_redis_clients: dict = {}


def enqueue(dotted_name: str, *args, requested_by_id=None, description=None, **kwargs) -> JobRun:
    """Start ``jobs.<module>.<function>(*args, progress=..., **kwargs)`` and return its run.

    Arguments must be JSON data (ids, not objects), checked here in both modes so that inline mode
    cannot hide a job that would break under RQ. The caller's session is committed first: the job
    may run in another process and must see what the caller wrote. Inline, a failing job does not
    raise here (under RQ it could not); its run comes back ``failed`` with the traceback.
    ``description`` (best a lazy translation) is the run's message until the job sets its own,
    stored as a message id so that each reader of the run sees it in their own language.
    """
    runner.resolve(dotted_name)  # refuse a bad name before anything is written
    json.dumps([args, kwargs])
    redis_url = current_app.config.get("REDIS_URL")
    run = JobRun(
        name=dotted_name,
        status="queued",
        requested_by_id=requested_by_id,
        message=runner.stored_message(description) if description else None,
        rq_job_id=uuid.uuid4().hex if redis_url else None,
        created_at=utcnow(),
    )
    db.session.add(run)
    db.session.flush()
    run_id, rq_job_id = run.id, run.rq_job_id
    db.session.commit()
    runner.claim_connections()
    call = (run_id, dotted_name, list(args), dict(kwargs))
    if redis_url:
        _put_on_queue(run, call, rq_job_id, str(description or dotted_name))
    else:
        try:
            runner.execute(*call)
        except Exception:  # noqa: BLE001 - recorded on the run by the runner
            log.info("job run %s (%s) failed inline", run_id, dotted_name)
    db.session.expire(run)  # the runner wrote through another session
    return run


def _put_on_queue(run: JobRun, call: tuple, rq_job_id: str, description: str) -> None:
    """Hand the call to RQ; if Redis refuses it, the run says so instead of staying queued."""
    from rq import Queue

    config = current_app.config
    try:
        queue = Queue(config["CRM_QUEUE_NAME"], connection=redis_connection(config["REDIS_URL"]))
        queue.enqueue_call(
            runner.execute,
            args=call,
            timeout=config["CRM_JOB_TIMEOUT"],
            job_id=rq_job_id,
            description=description,
            meta={"job_run_id": call[0]},
        )
    except Exception as exc:
        run.status, run.finished_at = "failed", utcnow()
        run.error = f"could not queue the job: {exc.__class__.__name__}: {exc}"
        db.session.commit()
        raise


def redis_connection(url: str):
    """One Redis client per URL and process (redis-py pools reconnect after a fork by themselves)."""
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url)
    return client
