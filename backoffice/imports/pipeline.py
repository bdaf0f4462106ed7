"""Running a batch: read -> validate -> resolve -> plan -> (write), chunk by chunk, with progress.

One function serves the dry run (``apply=False``: plans only, writes nothing but the batch's own
row and its error report) and the commit. Modes:

* ``atomic``: every chunk is written in ONE transaction; if any row is rejected the writing
  stops, the file is still read to the end (so the report lists every problem), and everything
  is rolled back. A killed run leaves nothing behind, and runs again from the start.
* ``skip_bad``: each chunk commits with the batch's checkpoint (last row applied) and counts in
  the same transaction, so a killed run resumes after the last committed chunk and never applies
  a row twice. A structural problem of the file (a ragged row deep inside) is found by a first
  pass before anything is written, unless a dry run of the same batch already read it whole.

Automatic per-row audit capture is paused; the operation log gets one row per batch with its
counts, in the transaction of the last write. The flush hook that raises ``record.created`` /
``record.changed`` never sees the bulk statements either: each target's write publishes them
for its chunk, set-based and in the chunk's transaction (``backoffice.imports.record_events``).

Three threads share a pass on PostgreSQL (customers): one reads, validates and seals the next
chunks (:func:`validated_chunks`), the caller's plans a chunk, and one writes the chunk planned
before (:class:`ChunkWriter`) on the batch's session, while the planning reads (existing
customers, references, unique values) go through a second session, on which the planning also
makes the chunk's COPY ready (``writes.stage_inserts``: ids taken, records built). Planning
against the data as committed is what planning against the chunks before would give: a row of a
later chunk that named a customer an earlier chunk creates or updates is rejected by the file's
own rules (the same customer number or ID number twice, the same customer twice, a number of the
form the batch generates), as within one chunk.
"""
from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import queue
import threading
import time

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backoffice.audit import hooks as audit_hooks
from backoffice.audit import log
from backoffice.fields.registry import field_catalog
from backoffice import stored_text
from backoffice.imports import files
from backoffice.imports.plan import Context, messages_of
from backoffice.imports.reading import ImportFileError, open_table
from backoffice.imports.refs import ReferenceCache
from backoffice.imports.report import ErrorReport
from backoffice.imports.rows import FileDuplicates, validate_chunk
from backoffice.imports.writes import ConcurrentEdit
from backoffice.notifications.sources import import_finished
from models import Branch, Staff
from models.base import utcnow
from models.imports import ImportBatch

ENTITY_OF = {"customers": "customer", "interactions": "interaction", "accounts": None,
             "transactions": None, "branches": None, "staff": None, "products": None}


CANCEL_CHECK_SECONDS = 0.5
# Seconds between heartbeats of a pass (``import_batch.heartbeat_at``); the timeout after which
# a silent batch counts as dead (``CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS``) is far longer.
HEARTBEAT_SECONDS = 5.0


class Cancelled(Exception):
    """The batch's cancel flag was set while it ran."""


def targets():
    from backoffice.imports.customers_target import CustomerTarget
    from backoffice.imports.holdings_target import AccountTarget, TransactionTarget
    from backoffice.imports.interactions_target import InteractionTarget
    from backoffice.imports.org_targets import BranchTarget, ProductTarget
    from backoffice.imports.staff_target import StaffTarget

    return {"customers": CustomerTarget, "accounts": AccountTarget,
            "transactions": TransactionTarget, "interactions": InteractionTarget,
            "branches": BranchTarget, "staff": StaffTarget, "products": ProductTarget}


def chunk_size() -> int:
    return int(current_app.config["CRM_IMPORT_CHUNK_SIZE"])


def chunk_pause() -> float:
    """``CRM_IMPORT_CHUNK_PAUSE``: seconds to rest after each chunk (0 by default), so that a
    big import on a busy database leaves room for the screens' own queries."""
    return max(0.0, float(current_app.config["CRM_IMPORT_CHUNK_PAUSE"] or 0))


def approval_threshold() -> int:
    return int(current_app.config["CRM_IMPORT_APPROVAL_ROWS"])


def default_branch_id(session) -> int | None:
    """``CRM_IMPORT_DEFAULT_BRANCH`` (a branch code), else the first branch by id."""
    code = current_app.config.get("CRM_IMPORT_DEFAULT_BRANCH")
    query = select(Branch.id)
    query = query.where(Branch.code == str(code)) if code else query.order_by(Branch.id)
    return session.execute(query.limit(1)).scalar()


def build_context(session, batch: ImportBatch, reads=None, commit: bool = False) -> Context:
    """What the targets need for the batch. The uploader's field access is asked again here
    (not only on the mapping screen): a mapped field they may not write refuses the batch, and
    the reviewed fields are those the policy says wait for a checker when they change them."""
    from backoffice.imports import access
    from backoffice.review.service import reviewed_fields
    from backoffice.security import policy

    from backoffice.imports.kinds import may_import

    uploader = batch.uploaded_by
    if not may_import(uploader, batch.kind):
        raise ImportFileError(_l("The uploader may not import this kind of file."))
    viewer = policy.viewer_for(uploader)
    refused = access.refused_columns(batch.kind, batch.mapping or {}, viewer)
    if refused:
        raise ImportFileError("; ".join(f"{header}: {message}"
                                        for header, message in refused.items()))
    if batch.kind != "customers":
        reviewed = ()
    elif uploader is None:  # the command line acts as the system: it writes directly
        reviewed = tuple(reviewed_fields())
    else:
        reviewed = access.reviewed_for(batch.kind, viewer)
    approved_reviews = None
    if commit and uploader is not None and reviewed:
        approved_reviews = frozenset(
            item["entity_id"] for item in (preview_of(session, batch).get("reviewed_rows") or ())
        ) if batch.approved_by_id else frozenset()
    entity = ENTITY_OF[batch.kind]
    specs = {s.key: s for s in field_catalog(entity, session=session)} if entity else {}
    mapped = set((batch.mapping or {}).values())
    columns = {key: header for header, key in (batch.mapping or {}).items()}
    return Context(
        session=session, reads=reads, batch_id=batch.id, kind=batch.kind, columns=columns,
        refs=ReferenceCache(reads if reads is not None else session),
        custom_specs={k: s for k, s in specs.items() if k in mapped}, all_custom=specs,
        default_branch_id=default_branch_id(session) if batch.kind == "customers" else None,
        require_id_number=bool(current_app.config["CRM_IMPORT_REQUIRE_ID_NUMBER"]),
        now=utcnow(), reviewed_fields=reviewed, approved_reviews=approved_reviews)


def preview_of(session, batch: ImportBatch) -> dict:
    """The dry run's sealed preview: ``diffs`` (a sample of updates) and ``reviewed_rows``
    (every update of a reviewed field), as :func:`backoffice.imports.plan.raw_diff` made them."""
    try:
        data = files.load(session, batch.id, "preview")
    except ImportFileError:
        return {}
    return json.loads(data) if data else {}


class Run:
    """One pass over a batch's file."""

    def __init__(self, session, batch_id: int, apply: bool, progress=None):
        self.session, self.batch_id, self.apply, self.progress = session, batch_id, apply, progress
        self.batch = session.get(ImportBatch, batch_id)
        self.counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        self.diffs: list = []
        self.reviewed: set = set()
        self.reviewed_rows: list = []
        self.warnings: dict = {}  # "column: message" -> rows written with it (gender from ID)
        self.rows_read = 0
        self.started = time.monotonic()
        self._cancel_checked = float("-inf")
        self._beaten = time.monotonic()  # commit() set the first heartbeat
        self._beat_every = heartbeat_interval()

    # --- the pass ---------------------------------------------------------------------------

    def execute(self) -> dict:
        batch, session = self.batch, self.session
        data = files.load(session, batch.id)
        if data is None:
            raise ImportFileError(_l("The batch has no stored file."))
        table = open_table(data, batch.filename, batch.sheet)
        atomic = batch.mode == "atomic"
        resume_after = batch.checkpoint_row if (self.apply and not atomic) else 0
        if resume_after:  # counts of the chunks already committed
            self.counts.update(created=batch.created_count, updated=batch.updated_count,
                               unchanged=batch.unchanged_count)
        total = batch.total_rows
        if self.apply and not atomic and not self._structure_known():
            with no_cycle_collection():  # millions of short-lived cells, no cycles
                total = open_table(data, batch.filename, batch.sheet).count_rows()
        if total is None and table.format == "csv":
            total = max(0, data.count(b"\n") - 1)  # an estimate until the end
        overlapped = (self.apply and OVERLAPPED.get(batch.kind, False)
                      and session.get_bind().dialect.name == "postgresql")
        reads = Session(bind=session.get_bind()) if overlapped else None
        ctx = build_context(session, batch, reads, commit=self.apply)
        target = targets()[batch.kind](ctx)
        duplicates = FileDuplicates()
        report = ErrorReport(list(table.headers))
        writing = self.apply
        stage = getattr(target, "stage", None)  # a write's preparation done while planning
        pause = chunk_pause()
        self._report_progress(total)

        def write(plan, row_number, counts, rows_read):
            target.apply(plan)
            if not atomic:
                self._checkpoint(row_number, counts, rows_read)

        with audit_hooks.paused(session), no_cycle_collection(), validated_chunks(
                table, chunk_size(), batch.kind, batch.mapping or {}, duplicates,
                getattr(target, "prepare", None)) as chunks, \
                ChunkWriter(write, overlapped) as writer, \
                (contextlib.closing(reads) if reads is not None else contextlib.nullcontext()):
            for chunk, results in chunks:
                self.rows_read += len(chunk)
                if resume_after and chunk[0].number <= resume_after:
                    # Committed by the earlier run (all of the chunk, or its first rows when
                    # the chunks fall differently): only remembered.
                    done = [r for r in results if r.row <= resume_after]
                    target.observe(done)
                    self._collect_rejects(report, chunk, [r for r in done if not r.ok])
                    results = [r for r in results if r.row > resume_after]
                    if not results:
                        self._report_progress(total)
                        continue
                    chunk = [row for row in chunk if row.number > resume_after]
                plan = target.plan(results)
                self._collect_warnings(results)
                self._collect_rejects(report, chunk, plan.rejected)
                self.counts["unchanged"] += plan.unchanged
                self.counts["created"] += len(plan.inserts)
                self.counts["updated"] += len(plan.updates)
                self.reviewed |= plan.reviewed
                self.reviewed_rows.extend(plan.reviewed_rows)
                self.diffs.extend(plan.diffs[:max(0, 20 - len(self.diffs))])
                if writing and atomic and plan.rejected:
                    writing = False  # nothing of this batch will be kept: stop writing
                if writing:
                    if stage is not None:
                        stage(plan)
                    writer.submit(plan, chunk[-1].number, dict(self.counts), self.rows_read)
                self._check_cancel()
                self._report_progress(total)
                if pause:
                    time.sleep(pause)
            writer.wait()
        self.total = self.rows_read
        self.report = report
        return self.counts

    def _structure_known(self) -> bool:
        """A dry run of this very file read it to the end: its structure is sound."""
        return self.batch.dry_run is not None and self.batch.total_rows is not None

    def _collect_warnings(self, results) -> None:
        for result in results:
            if result.ok:
                for column, message in getattr(result, "warnings", ()):
                    key = f"{column}: {message}"
                    self.warnings[key] = self.warnings.get(key, 0) + 1

    def _collect_rejects(self, report: ErrorReport, chunk, rejected) -> None:
        if not rejected:
            return
        raw = {row.number: row.values for row in chunk}
        for result in rejected:
            problems = [(str(column), message) for (column, _), message in
                        zip(result.problems, messages_of(result))]
            kinds = [str(problem) for _, problem in result.problems]
            report.add(result.row, raw.get(result.row, {}), problems, kinds)
        self.counts["rejected"] += len(rejected)

    def _checkpoint(self, row_number: int, counts: dict, rows_read: int) -> None:
        """skip_bad: the chunk's writes and the checkpoint commit together."""
        self.session.execute(update(ImportBatch).where(ImportBatch.id == self.batch_id).values(
            checkpoint_row=row_number, rows_done=rows_read, heartbeat_at=utcnow(),
            created_count=counts["created"], updated_count=counts["updated"],
            unchanged_count=counts["unchanged"]))
        self.session.commit()

    def _check_cancel(self) -> None:
        """Between chunks: the heartbeat (every few seconds, so that a reader can tell a live
        job from a lost one), then the cancel flag, at most every ``CANCEL_CHECK_SECONDS``:
        both go through a connection of their own, which costs a chunk of a fast import about
        as much as planning a few hundred rows."""
        now = time.monotonic()
        if now - self._beaten >= self._beat_every:
            self._beaten = now
            heartbeat(self.batch_id)
        if now - self._cancel_checked < CANCEL_CHECK_SECONDS:
            return
        self._cancel_checked = now
        if cancel_requested(self.batch_id):
            raise Cancelled()

    def _report_progress(self, total) -> None:
        if self.progress is not None:
            total = max(total or 0, self.rows_read)
            self.progress.update(self.rows_read, total=total,  # kept as its message id
                                 message=_l("%(done)s rows read", done=self.rows_read))

    @property
    def rate(self) -> int:
        seconds = max(time.monotonic() - self.started, 1e-6)
        return int(self.rows_read / seconds)


@contextlib.contextmanager
def validated_chunks(table, size: int, kind: str, mapping: dict, duplicates: FileDuplicates,
                     prepare=None):
    """``(chunk, validated rows)`` pairs of ``table``, read and validated one chunk ahead in a
    thread of their own.

    Why: reading and validating touch no database, and the commit spends much of a chunk
    waiting for PostgreSQL to take its COPY (index upkeep, constraint checks); in that wait the
    GIL is free, so the next chunk is read and validated meanwhile. Everything that touches the
    database (references, existing records, writes) stays on the caller's thread, in the
    order of the file, so a chunk is still planned against the chunks written before it.
    ``prepare(results)``, when given, is the target's database-free work done ahead (the
    customers' encryption).
    At most two chunks wait (bounded memory); an exception of the reader (a ragged row deep in
    the file) reaches the caller at the chunk where it occurred; leaving the block early
    (cancellation, a failed write) stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in ramped(table.chunks(size)):
                results = validate_chunk(kind, chunk, mapping, duplicates)
                if prepare is not None:
                    prepare(results)
                if not put((chunk, results)):
                    return
        except BaseException as problem:  # noqa: BLE001 - handed to the caller's thread
            put(problem)
            return
        put(done)

    def consume():
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=produce, name="import-reader", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()


# The first chunk of a pass is cut into pieces of these shares of a chunk, then the rest of it.
FIRST_PIECES = (0.1, 0.2)
RAMPED_FROM = 1000


def ramped(chunks):
    """``chunks`` with the first one cut into pieces: a tenth, a fifth, then the rest of it.

    Why: nothing is written until a chunk has been read, validated, sealed, planned and staged
    (half a second for 10,000 customers on 2 cores), and PostgreSQL's COPY of the chunks then
    sets the pace; a first piece of 1,000 rows starts the writing about 0.4 s earlier (measured:
    the first COPY of a 100,000-row import at 0.36-0.39 s instead of 0.74-0.80 s), and the
    progress bar moves sooner. A first chunk of fewer than ``RAMPED_FROM`` rows is left whole:
    it is prepared in a few hundredths of a second anyway, and every extra chunk costs its own
    queries (references, existing records, the COPY's column types).
    """
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    at = 0
    if len(first) >= RAMPED_FROM:
        for share in FIRST_PIECES:
            piece = int(len(first) * share)
            yield first[at:at + piece]
            at += piece
    yield first[at:]
    yield from chunks


# Import kinds whose chunks are written while the next is planned (on PostgreSQL). Accounts,
# transactions and interactions count or find rows the chunks before them wrote, so they stay
# one chunk after another.
OVERLAPPED = {"customers": True}


class ChunkWriter:
    """Writes a pass's chunks: when ``overlapped``, each on a thread of its own while the
    caller plans the next (at most one in flight), else at once on the caller's thread.

    Why: a chunk's write is mostly PostgreSQL's work (a 10,000-customer COPY keeps fourteen
    indexes and three foreign keys), during which the interpreter is free; planning the next
    chunk meanwhile made a 100,000-customer import about 13 % faster (alternating runs,
    2 cores). The thread runs in a copy of the caller's context, so on the same app context
    and session; the caller touches that session again only after :meth:`wait`. A write's
    exception is raised on the caller's thread at the next :meth:`submit` or :meth:`wait`.
    """

    def __init__(self, write, overlapped: bool):
        self._write, self.overlapped = write, overlapped
        self._thread = None
        self._error = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._join()  # a write still in flight ends before the caller rolls back or commits
        return False

    def submit(self, *args) -> None:
        if not self.overlapped:
            self._write(*args)
            return
        self.wait()
        context = contextvars.copy_context()  # the app context, so the same session
        self._thread = threading.Thread(target=context.run, args=(self._run, *args),
                                        name="import-writer", daemon=True)
        self._thread.start()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, *args) -> None:
        try:
            self._write(*args)
        except BaseException as problem:  # noqa: BLE001 - raised on the caller's thread
            self._error = problem

    def wait(self) -> None:
        """Wait for the chunk in flight; raise its write's exception, if any."""
        self._join()
        if self._error is not None:
            problem, self._error = self._error, None
            raise problem


@contextlib.contextmanager
def no_cycle_collection():
    """Pause the cyclic garbage collector during a pass; put it back as it was after.

    A pass allocates millions of short-lived rows, dicts and strings, and reference counting
    frees them all; they make almost no reference cycles (396 cyclic objects were left by a
    100,000-row import). The collector, run every few thousand allocations, kept walking the
    chunks in flight and the whole application: 43 young and 5 older collections took 0.76 s
    of a 5.9 s import (100,000 customers). The few cycles a pass leaves are collected after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def heartbeat_interval() -> float:
    """``HEARTBEAT_SECONDS``, or a quarter of the timeout when that is set shorter."""
    timeout = float(current_app.config["CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS"])
    return min(HEARTBEAT_SECONDS, timeout / 4)


def heartbeat(batch_id: int) -> bool:
    """Say the batch's job is alive, on a connection of its own (the pass's transaction may stay
    open for long). Best-effort: on SQLite, while this very pass holds the write lock, it gives
    up at once, and a reader then cannot take the batch for dead either
    (``backoffice.imports.liveness``)."""
    from backoffice.extensions import db
    from jobs.runner import _short_sqlite_busy_timeout

    try:
        with db.engine.connect() as connection, _short_sqlite_busy_timeout(connection, 50), \
                connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            connection.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
                heartbeat_at=utcnow()))
        return True
    except Exception:  # noqa: BLE001 - a missed beat; the next one comes in a few seconds
        return False


def cancel_requested(batch_id: int) -> bool:
    """Read the flag on a connection of its own: the screen sets it in another transaction."""
    from backoffice.extensions import db
    from jobs.runner import _short_sqlite_busy_timeout

    try:
        with db.engine.connect() as connection, _short_sqlite_busy_timeout(connection, 50):
            return bool(connection.execute(select(ImportBatch.cancel_requested).where(
                ImportBatch.id == batch_id)).scalar())
    except Exception:  # noqa: BLE001 - SQLite locked by our own writer: not cancelled
        return False


# --- the two entry points ----------------------------------------------------------------------


def dry_run(session, batch_id: int, progress=None) -> dict:
    """Plan the whole batch, write nothing but the batch row and its error report.

    Refused (nothing changed, the summary says why) on a batch whose counts describe written
    rows or a job at work (``backoffice.imports.states``)."""
    from backoffice.imports.states import dry_run_refusal

    batch = session.get(ImportBatch, batch_id)
    refusal = dry_run_refusal(batch)
    if refusal is not None:
        return {**summary(batch), "refused": str(refusal), "message": str(refusal)}
    run = Run(session, batch_id, apply=False, progress=progress)
    try:
        counts = run.execute()
    except ImportFileError as problem:
        session.rollback()
        return _failed(session, batch_id, problem.message)
    except Cancelled:
        session.rollback()
        return _finish(session, batch_id, status="cancelled",
                       message=_l("The dry run was cancelled."))
    session.rollback()  # drop anything the planning may have flushed
    batch = session.get(ImportBatch, batch_id)
    needs, reason = approval_needed(run.total, run.reviewed)
    # Values of records go to the sealed preview only; the batch row keeps counts and names.
    batch.dry_run = {**counts, "reviewed": sorted(run.reviewed),
                     "reviewed_rows": len(run.reviewed_rows), "rows": run.total,
                     "warnings": run.warnings}
    files.store(session, batch.id, "preview", json.dumps(
        {"diffs": run.diffs, "reviewed_rows": run.reviewed_rows}, ensure_ascii=False,
        default=str).encode("utf-8"))
    batch.approved_by_id = batch.approved_at = None  # a new dry run needs a new approval
    batch.total_rows = run.total
    batch.created_count, batch.updated_count = counts["created"], counts["updated"]
    batch.unchanged_count, batch.rejected_count = counts["unchanged"], counts["rejected"]
    batch.rows_done = run.total
    batch.rows_per_second = run.rate
    batch.needs_approval, batch.approval_reason = needs, reason
    if batch.status in ("uploaded", "dry_run", "failed", "cancelled", "interrupted"):
        batch.status = "dry_run"
    _store_report(session, batch, run.report)
    session.commit()
    return with_warnings(summary(batch), run)


def commit(session, batch_id: int, progress=None, actor=None) -> dict:
    """Apply the batch (its approval, if needed, was checked by the caller).

    A batch cancelled while it waited in the queue ends "cancelled" without starting; starting
    again after a cancellation or an interruption is a deliberate new run (its flag cleared)."""
    batch = session.get(ImportBatch, batch_id)
    if batch.cancel_requested and batch.status in ("queued", "running"):
        return _finish(session, batch_id, status="cancelled",
                       message=_l("The import was cancelled before it started."))
    batch.status, batch.started_at = "running", batch.started_at or utcnow()
    batch.cancel_requested, batch.error, batch.heartbeat_at = False, None, utcnow()
    if progress is not None and getattr(progress, "job_run_id", None):
        batch.job_run_id = progress.job_run_id
    session.commit()
    run = Run(session, batch_id, apply=True, progress=progress)
    try:
        counts = run.execute()
    except ImportFileError as problem:
        session.rollback()
        return _failed(session, batch_id, problem.message)
    except ConcurrentEdit:
        session.rollback()
        return _failed(session, batch_id, _l(
            "Records changed while the import ran; nothing more was written. Run it again."))
    except Cancelled:
        session.rollback()
        return _finish(session, batch_id, status="cancelled",
                       message=stored_text.keep(_l("The import was cancelled."), kept_rows(
                           session.get(ImportBatch, batch_id))))
    batch = session.get(ImportBatch, batch_id)
    if batch.mode == "atomic" and counts["rejected"]:
        session.rollback()
        batch = session.get(ImportBatch, batch_id)
        _set_counts(batch, {"created": 0, "updated": 0, "unchanged": 0,
                            "rejected": counts["rejected"]}, run)
        batch.status, batch.finished_at = "failed", utcnow()
        batch.message = stored_text.keep(_l(
            "%(rejected)s rows were rejected, so nothing was written (atomic mode). Correct them "
            "and upload the file again, or import in skip-bad mode.", rejected=counts["rejected"]))
        _store_report(session, batch, run.report)
        _log(batch, actor, counts, written=False)
        import_finished(session, batch)
        session.commit()
        return summary(batch)
    _set_counts(batch, counts, run)
    batch.status = "committed"
    batch.finished_at = batch.committed_at = utcnow()
    batch.message = None
    _store_report(session, batch, run.report)
    _log(batch, actor, counts, written=True)
    import_finished(session, batch)
    session.commit()
    return with_warnings(summary(batch), run)


def with_warnings(result: dict, run) -> dict:
    """The summary, with the rows written but changed on the way (``warnings``: "column:
    message" -> rows), when there are any."""
    return {**result, "warnings": run.warnings} if run.warnings else result


def _set_counts(batch, counts, run) -> None:
    batch.created_count, batch.updated_count = counts["created"], counts["updated"]
    batch.unchanged_count, batch.rejected_count = counts["unchanged"], counts["rejected"]
    batch.total_rows = batch.rows_done = run.total
    batch.rows_per_second = run.rate


def approval_needed(rows: int, reviewed: set) -> tuple[bool, str | None]:
    reasons = []
    if rows > approval_threshold():
        reasons.append(gettext("more than %(limit)s rows", limit=approval_threshold()))
    if reviewed:
        reasons.append(gettext("changes reviewed fields: %(fields)s",
                               fields=", ".join(sorted(reviewed))))
    return bool(reasons), ("; ".join(reasons)[:255] or None)


def _store_report(session, batch, report: ErrorReport) -> None:
    if report.total:
        files.store(session, batch.id, "report", report.to_xlsx())


def _log(batch, actor, counts, written: bool) -> None:
    actor = actor if actor is not None else (batch.approved_by or batch.uploaded_by)
    log.record("import", entity="ImportBatch", entity_id=batch.id, actor=actor, detail={
        "kind": batch.kind, "mode": batch.mode, "file": batch.filename, "sha256": batch.sha256,
        "written": written, **counts})


def _failed(session, batch_id: int, message) -> dict:
    return _finish(session, batch_id, status="failed", message=message)


def kept_rows(batch: ImportBatch):
    """What a run that stopped part-way left written: the operator's next step depends on it (a
    lazy translation, stored through ``stored_text``)."""
    if batch.mode == "atomic" or not batch.checkpoint_row:
        return _l("Nothing of it was written.")
    return _l("Rows up to row %(row)s are written (%(created)s created, %(updated)s "
                   "updated), are kept and can be reverted.", row=batch.checkpoint_row,
                   created=batch.created_count, updated=batch.updated_count)


def _finish(session, batch_id: int, status: str, message) -> dict:
    """``message``: a lazy translation, or text kept by ``stored_text`` (shown in the reader's
    language), or plain text."""
    batch = session.get(ImportBatch, batch_id)
    stored = message if stored_text.is_kept(message) else stored_text.keep(message)
    batch.status, batch.message, batch.finished_at = status, stored, utcnow()
    batch.cancel_requested = False
    log.record("import_failed" if status == "failed" else "import_cancelled",
               entity="ImportBatch", entity_id=batch.id,
               actor=batch.approved_by or batch.uploaded_by,
               detail={"kind": batch.kind, "file": batch.filename, "message": stored_text.show(stored)[:300]})
    import_finished(session, batch)
    session.commit()
    return summary(batch)


def summary(batch: ImportBatch) -> dict:
    """What the CLI prints and the job returns."""
    return {
        "batch_id": batch.id, "status": batch.status, "kind": batch.kind, "mode": batch.mode,
        "rows": batch.total_rows, "created": batch.created_count,
        "updated": batch.updated_count, "unchanged": batch.unchanged_count,
        "rejected": batch.rejected_count, "rows_per_second": batch.rows_per_second,
        "needs_approval": batch.needs_approval, "message": stored_text.show(batch.message) or None,
        "duplicate_of": batch.duplicate_of_id,
        "error_report": (f"/imports/report/{batch.id}" if batch.rejected_count else None),
    }


def actor_of(session, user_id):
    return session.get(Staff, user_id) if user_id else None
