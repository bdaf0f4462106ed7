"""What actually executes a job, inline in a request or in a forked RQ work horse.

One function, :func:`execute`, serves both modes so that a job behaves the same on a laptop and in
production: it runs in a fresh app context (so its own database session, never the request's), under
the unrestricted record scope any worker has (a job acting for a user narrows it itself with
``scopes.as_scope``), and it records status, progress, result and failure on the ``job_run`` row
that every web process can read. A failed run (the job raised, or its work horse died) is also
told to the job's module (:func:`_tell_failure`), so that records the job was working on do not
stay "running" for ever.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import os
import re
import time
import traceback
import weakref

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from backoffice import stored_text
from backoffice.extensions import db
from models.base import utcnow
from models.jobs import JobRun

log = logging.getLogger(__name__)

_NAME = re.compile(r"^jobs(\.[A-Za-z][A-Za-z0-9_]*){2,}$")  # no _private or dunder parts
_PLUMBING = {"jobs.queue", "jobs.runner", "jobs.worker"}
_TABLE = JobRun.__table__


class JobNameRefused(ValueError):
    """The name is not a job: only functions defined in modules under ``jobs.`` may run."""


def resolve(dotted_name: str):
    """The job function named ``jobs.<module>.<function>``; anything else is refused.

    The name travels through Redis and comes from views, so it is input: without this check a
    crafted name (``os.system``, or a helper a job module merely imported) would run in the worker.
    """
    if not isinstance(dotted_name, str) or not _NAME.match(dotted_name):
        raise JobNameRefused(f"not a job name: {dotted_name!r} (expected jobs.<module>.<function>)")
    module_name, _, attr = dotted_name.rpartition(".")
    if module_name in _PLUMBING:
        raise JobNameRefused(f"{dotted_name!r} is job plumbing, not a job")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise JobNameRefused(f"no job module {module_name!r}") from exc
        raise  # the job module exists but a dependency of it is missing: a real error
    func = getattr(module, attr, None)
    if not inspect.isfunction(func) or func.__module__ != module_name:
        raise JobNameRefused(f"{dotted_name!r} is not a function defined in {module_name}")
    return func


class Progress:
    """How far a job got, written to its ``job_run`` row and (under RQ) to ``job.meta``.

    Each row write is its own short transaction on a separate connection, so screens see progress
    while the job's own transaction is still open. Writes are throttled, because a loop may report
    every row, and best-effort: a write that cannot get its lock quickly (SQLite while the job holds
    the write lock) is retried later, backing off, and the final values are written with the
    outcome, so progress never stalls or fails a job.
    """

    interval = 0.5  # seconds between writes, except the one that reaches the total

    def __init__(self, job_run_id: int, engine, rq_job=None):
        self.job_run_id = job_run_id
        self.done, self.total, self.message = 0, None, None
        self.reported = False
        self._engine, self._rq_job = engine, rq_job
        self._written_at = float("-inf")
        self._backoff = 0.0  # extra wait after a write that could not get its lock
        self._pending = False

    def update(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record ``done`` items of ``total`` (kept from earlier calls when omitted)."""
        self.done = int(done)
        if total is not None:
            self.total = int(total)
        if message is not None:
            self.message = stored_message(message)
        self.reported = self._pending = True
        reached_total = self.total is not None and self.done >= self.total
        wait = max(self.interval, self._backoff)
        if reached_total or time.monotonic() - self._written_at >= wait:
            self.flush()

    def values(self) -> dict:
        return {"done": self.done, "total": self.total, "message": self.message}

    def flush(self, row: bool = True) -> None:
        """Write pending progress now (``row=False``: only to RQ's meta)."""
        if not self._pending:
            return
        self._written_at = time.monotonic()
        if row:
            written = _write_without_waiting(self._engine, self.job_run_id, self.values())
            self._backoff = 0.0 if written else min(30.0, max(1.0, 2 * self._backoff))
            self._pending = not written
        else:
            self._pending = False  # the outcome carries these values to the row
        if self._rq_job is not None:
            try:
                self._rq_job.meta.update(self.values(), job_run_id=self.job_run_id)
                self._rq_job.save_meta()
            except Exception:  # noqa: BLE001 - Redis trouble must not fail the job
                log.warning("job run %s: progress not saved to RQ meta", self.job_run_id, exc_info=True)


def stored_message(message) -> str:
    """A lazy translation is stored as its message id (``backoffice.stored_text``), so that each
    reader of the run sees it in their own language; plain text as it is. One too long for the
    column as a message id is stored as text in the job's language rather than cut unreadable."""
    kept = stored_text.keep(message) or ""
    if len(kept) > 255 and stored_text.is_kept(kept):
        kept = str(message)
    return kept[:255]


def _write_without_waiting(engine, job_run_id: int, values: dict) -> bool:
    """One UPDATE of the row on its own connection; False instead of waiting long for a lock."""
    try:
        with engine.connect() as conn, _short_sqlite_busy_timeout(conn), conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            conn.execute(update(_TABLE).where(_TABLE.c.id == job_run_id).values(**values))
        return True
    except SQLAlchemyError as exc:
        log.warning("job run %s: progress not written yet (%s)", job_run_id, exc.__class__.__name__)
        return False


@contextlib.contextmanager
def _short_sqlite_busy_timeout(conn, milliseconds: int = 250):
    """SQLite lets one writer in: while a job holds the write lock, give up fast, not after 5 s."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    previous = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    raw.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {previous}")


# --- app and connections per process ---------------------------------------------------------

_process_app = None
_engine_pids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def process_app():
    """The app jobs run in when no app context was pushed (a plain ``rq worker``).

    Built once per process; a work horse forked from a parent that built it inherits it.
    """
    global _process_app
    if _process_app is None:
        from backoffice import create_app

        _process_app = create_app()
    return _process_app


def claim_connections() -> None:
    """Note that this process owns the pooled connections of the current app's engines.

    Called by whoever may fork afterwards (the worker before its loop, ``enqueue``), so that a
    forked child knows the pool it inherited is not its own.
    """
    for engine in db.engines.values():
        _engine_pids[engine] = os.getpid()


def _drop_inherited_connections() -> None:
    """In a forked child, start new pools: a connection used by two processes corrupts both."""
    pid = os.getpid()
    for engine in db.engines.values():
        owner = _engine_pids.get(engine)
        if owner is not None and owner != pid:
            engine.dispose(close=False)  # leave the parent's connections alone
        _engine_pids[engine] = pid


# --- execution -------------------------------------------------------------------------------


def execute(job_run_id: int, dotted_name: str, args=(), kwargs=None):
    """Run one job for its ``job_run`` row and return its result; re-raise its failure.

    RQ calls this in the work horse (``jobs.queue.enqueue`` puts it on the queue), inline mode calls
    it directly. The failure is recorded on the row before it is re-raised, so RQ marks its own job
    failed too and the row never stays ``running``.
    """
    from backoffice.security import scopes

    app = current_app._get_current_object() if has_app_context() else process_app()
    # A context of its own: its own session, never the caller's. Jobs see every record (their
    # outputs are scoped where they are shown); the scope is set before the first statement,
    # because an inline job runs inside the caller's request, whose user must not be looked up
    # from the job's fresh app context (that lookup fails: the job's ``g`` is empty).
    with app.app_context(), scopes.as_scope(scopes.UNRESTRICTED):
        _drop_inherited_connections()
        return _run(job_run_id, dotted_name, tuple(args), dict(kwargs or {}))


def _run(job_run_id: int, dotted_name: str, args: tuple, kwargs: dict):
    _record(job_run_id, status="running", started_at=utcnow(), finished_at=None, error=None)
    progress = Progress(job_run_id, db.engine, _current_rq_job())
    try:
        func = resolve(dotted_name)
        result = func(*args, progress=progress, **kwargs)
        json.dumps(result)  # a result the JSON column cannot hold fails the run here, visibly
        outcome = {"status": "finished", "result": result}
        if progress.reported:
            outcome.update(progress.values())
        # The outcome commits with the job's own work: "finished" means the work is saved.
        _record(job_run_id, finished_at=utcnow(), **outcome)
        progress.flush(row=False)
        from backoffice import events

        events.kick()  # what the job published is handled by the dispatch job (started once)
        return result
    except BaseException:
        error = traceback.format_exc()
        try:
            db.session.rollback()  # the job's half-done work goes; the row says why
            progress.flush()
            _record(job_run_id, status="failed", error=error, finished_at=utcnow())
        except Exception:  # noqa: BLE001 - never hide the job's own exception
            log.exception("job run %s: could not record the failure", job_run_id)
        _tell_failure(dotted_name, job_run_id, error)
        raise


def _record(job_run_id: int, **values) -> None:
    """Update the row in the job's session and commit (with whatever work the job left)."""
    outcome = db.session.execute(update(_TABLE).where(_TABLE.c.id == job_run_id).values(**values))
    if outcome.rowcount != 1:
        db.session.rollback()
        raise LookupError(f"job run {job_run_id} does not exist")
    db.session.commit()


def record_lost(job_run_id: int, reason: str) -> bool:
    """Mark a run failed whose process died before it could say so (killed, out of memory)."""
    stmt = (
        update(_TABLE)
        .where(_TABLE.c.id == job_run_id, _TABLE.c.status.in_(("queued", "running")))
        .values(status="failed", error=reason, finished_at=utcnow())
    )
    with db.engine.begin() as conn:
        lost = conn.execute(stmt).rowcount == 1
        name = conn.execute(select(_TABLE.c.name).where(_TABLE.c.id == job_run_id)).scalar()
    if lost and name:
        _tell_failure(name, job_run_id, reason)
    return lost


FAILURE_HOOK = "_on_failure"


def _tell_failure(dotted_name: str, job_run_id: int, reason: str) -> None:
    """Let the job's module put its own records right: a module under ``jobs.`` may define
    ``_on_failure(job_run_id, reason)`` (private, so never runnable as a job), called after the
    run is recorded failed, whether the job raised or its process died. Best-effort: the
    failure is already on the run, and a hook's trouble must not hide it."""
    if not isinstance(dotted_name, str) or not _NAME.match(dotted_name):
        return
    try:
        module = importlib.import_module(dotted_name.rpartition(".")[0])
        hook = getattr(module, FAILURE_HOOK, None)
        if callable(hook):
            hook(job_run_id, reason)
    except Exception:  # noqa: BLE001 - the run already says it failed
        log.exception("job run %s: the failure hook of %s failed", job_run_id, dotted_name)


def _current_rq_job():
    """The RQ job being performed in this process, or None inline."""
    from rq import get_current_job

    return get_current_job()
