"""Worker bootstrap: forking RQ workers that run jobs inside the back office app.

``flask crm worker`` calls :func:`run_worker`; a plain ``rq worker -w jobs.worker.AppWorker --url
$REDIS_URL crm`` works too (the worker then builds the app itself). The worker is RQ's forking
``Worker``: each job runs in a fresh work horse, so a crashing or leaking job cannot take the worker
down, and a horse that dies without a word still gets its run marked failed.
"""
from __future__ import annotations

import logging

from flask import has_app_context
from rq import Queue, Worker

from backoffice.extensions import db
from jobs import runner
from jobs.queue import redis_connection

log = logging.getLogger(__name__)


class AppWorker(Worker):
    """RQ's forking worker, working inside an app context and recording dead work horses."""

    def work(self, *args, **kwargs) -> bool:
        if has_app_context():
            return self._work_here(*args, **kwargs)
        with runner.process_app().app_context():
            return self._work_here(*args, **kwargs)

    def _work_here(self, *args, **kwargs) -> bool:
        # Forks follow: horses must know the pool is ours, and inherit no checked-out connection.
        db.session.remove()
        runner.claim_connections()
        return super().work(*args, **kwargs)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        """A horse killed by a signal or the out-of-memory killer cannot record its own failure."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        job_run_id = (job.meta or {}).get("job_run_id")
        if job_run_id is None:
            return
        try:
            runner.record_lost(job_run_id, f"the work horse died (pid {retpid}, wait status {ret_val})")
        except Exception:  # noqa: BLE001 - the worker itself must keep going
            log.exception("job run %s: could not record the dead work horse", job_run_id)


def run_worker(app, burst: bool = False, queues=None) -> bool:
    """Work the configured queue (or ``queues``) until stopped, or until empty with ``burst``.

    Returns whether any job was processed.
    """
    url = app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError(
            "REDIS_URL is not set: jobs run inline in this configuration and need no worker"
        )
    connection = redis_connection(url)
    names = list(queues or [app.config["CRM_QUEUE_NAME"]])
    with app.app_context():
        worker = AppWorker([Queue(name, connection=connection) for name in names], connection=connection)
        return worker.work(burst=burst, with_scheduler=True)
