"""Operator screens: upload, column mapping, dry-run result, batch page with a live progress bar,
error report download, approval, cancellation, resumption of an interrupted batch and revert
(in the order later batches allow: ``backoffice.imports.revert``).

Who reaches what (``ImportBatch`` permissions in ``config/roles.py``): operators upload and run
batches (``can_write``); approvers (``can_approve``: senior managers) decide on batches that wait
for a second person; auditors read. The error report holds the file's own customer data, so it is
served only to the batch's uploader, approvers and auditors (values masked for all but the
uploader), and every download is logged. Every value of an existing record a screen shows goes
through the field-access policy for the person looking (``backoffice.imports.access``). Heavy
work runs as jobs (``jobs.imports``); the screens only enqueue and poll.
"""
from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.security.current import current_user
from backoffice.audit import log
from backoffice.errors import WriteRefused
from backoffice.extensions import db
from backoffice.fields.registry import field_catalog
from backoffice import stored_text
from backoffice.imports import access, files, liveness, pipeline, service, states
from backoffice.imports.reading import ImportFileError, list_sheets
from backoffice.imports.revert import Blocked, later_changes, revertible
from backoffice.imports.rows import RULES
from backoffice.security.permissions import has_permission
from backoffice.security import policy
from models import JobRun
from models.base import utcnow
from models.imports import ImportBatch, ImportTemplate

KIND_LABELS = {"customers": _l("Customers"), "accounts": _l("Accounts"),
               "transactions": _l("Transactions"), "interactions": _l("Interactions"),
               "branches": _l("Branches"), "staff": _l("Staff"), "products": _l("Products")}


def kind_choices(user) -> dict:
    """The kinds the upload form offers ``user`` (``backoffice.imports.kinds``)."""
    from backoffice.imports.kinds import importable

    return {kind: KIND_LABELS[kind] for kind in importable(user, KIND_LABELS)}
MODE_LABELS = {"atomic": _l("Atomic (all or nothing)"),
               "skip_bad": _l("Skip bad rows (keep good rows)")}
STATUS_LABELS = {
    "uploaded": _l("Uploaded"), "dry_run": _l("Dry run done"),
    "pending_approval": _l("Waiting for approval"), "approved": _l("Approved"),
    "queued": _l("Queued"), "running": _l("Running"), "committed": _l("Committed"),
    "failed": _l("Failed"), "cancelled": _l("Cancelled"), "rejected": _l("Rejected"),
    "reverted": _l("Reverted"), "interrupted": _l("Interrupted")}
PREVIEW_ROWS = 500  # reviewed changes listed on the batch page (all are counted)
METHOD_PERMISSIONS = {"index": "read", "batch": "read", "progress": "read", "report": "read",
                      "upload": "write", "mapping": "write", "run": "write",
                      "decide": "approve"}


def may_read_report(user, batch: ImportBatch) -> bool:
    """The uploader, approvers and auditors (readers of the operation log)."""
    return user is not None and (batch.uploaded_by_id == user.id or service.may_approve(user)
                                 or has_permission(user, "can_read", "AuditLog"))


def field_choices(kind: str, viewer) -> list[tuple[str, str]]:
    """The fields the mapping offers: those the policy lets ``viewer`` (the uploader) write."""
    choices = [(key, str(rule.label)) for key, rule in RULES[kind].items()]
    entity = pipeline.ENTITY_OF.get(kind)
    if entity:
        choices += [(s.key, gettext("%(label)s (custom field)", label=s.label()))
                    for s in field_catalog(entity)]
    allowed = set(access.mappable(kind, [key for key, _ in choices], viewer))
    return [(key, label) for key, label in choices if key in allowed]


def enqueue_job(name, *args, **kwargs):
    """``jobs.queue.enqueue`` from a request (inline without Redis: the runner gives the job the
    unrestricted scope itself, whoever started it)."""
    from jobs.queue import enqueue

    return enqueue(name, *args, **kwargs)


class ImportView(BaseView):
    """``/imports/``: batches, upload, mapping, batch page, progress, report."""

    route_base = "/imports"
    class_permission_name = "ImportBatch"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    def _batch(self, pk: int) -> ImportBatch:
        batch = db.session.get(ImportBatch, pk)
        if batch is None:
            abort(404)
        return batch

    @expose("/")
    @has_access
    def index(self):
        batches = db.session.execute(select(ImportBatch).order_by(ImportBatch.id.desc())
                                     .limit(100)).scalars().all()
        batches = [liveness.refresh(db.session, b) if b.status in states.ACTIVE else b
                   for b in batches]
        return self.render_template("imports/index.html", batches=batches,
                                    kind_labels=KIND_LABELS, status_labels=STATUS_LABELS,
                                    title=_l("Imports"))

    @expose("/upload", methods=["GET", "POST"])
    @has_access
    def upload(self):
        templates = db.session.execute(select(ImportTemplate).order_by(
            ImportTemplate.kind, ImportTemplate.name)).scalars().all()
        if request.method == "POST":
            upload = request.files.get("file")
            data = upload.read() if upload else b""
            try:
                if request.form.get("kind", "") not in kind_choices(current_user()):
                    raise service.ImportRefused({"kind": _l("Choose what the file holds.")})
                batch, _ = service.upload(
                    db.session, data, upload.filename if upload else "", request.form.get(
                        "kind", ""), mode=request.form.get("mode", "atomic"),
                    sheet=request.form.get("sheet") or None,
                    template_name=request.form.get("template") or None, user=current_user())
            except ImportFileError as problem:
                db.session.rollback()
                flash(str(problem.message), "danger")
            except service.ImportRefused as refused:
                db.session.rollback()
                for message in refused.errors.values():
                    flash(message, "danger")
            else:
                return redirect(url_for(".mapping", pk=batch.id))
        return self.render_template("imports/upload.html",
                                    kind_labels=kind_choices(current_user()),
                                    mode_labels=MODE_LABELS, templates=templates,
                                    title=_l("Upload a spreadsheet"))

    @expose("/batch/<int:pk>/mapping", methods=["GET", "POST"])
    @has_access
    def mapping(self, pk):
        batch = self._batch(pk)
        user = current_user()
        can_define = has_permission(user, "can_write", "CustomField")
        data = files.load(db.session, batch.id)
        if request.method == "POST":
            try:
                service.check_dry_run(batch)  # a new mapping or sheet means a new dry run
                if request.form.get("sheet") and request.form["sheet"] != batch.sheet:
                    self._change_sheet(batch, data, request.form["sheet"])
                    return redirect(url_for(".mapping", pk=pk))
                columns = {h: request.form.get(f"col_{i}", "")
                           for i, h in enumerate(batch.headers)}
                if can_define:
                    chosen = [h for i, h in enumerate(batch.headers)
                              if request.form.get(f"new_{i}") and not columns.get(h)]
                    if chosen:
                        result = self._mapping_result(batch, data)
                        unmatched = [u for u in result.unmatched if u.header in chosen]
                        columns.update(service.create_fields_for(db.session, batch.kind,
                                                                 unmatched))
                service.set_mapping(db.session, batch, columns)
                if request.form.get("template_name"):
                    service.save_template(db.session, batch.kind,
                                          request.form["template_name"], batch.mapping, user)
                db.session.commit()
            except (service.ImportRefused, WriteRefused) as refused:
                db.session.rollback()
                log.record("import_mapping_refused", entity="ImportBatch", entity_id=batch.id,
                           actor=user, detail={"columns": sorted(map(str, refused.errors))})
                for header, message in refused.errors.items():
                    flash(f"{header}: {message}", "danger")
                return redirect(url_for(".mapping", pk=pk))
            return self._enqueue(batch, "jobs.imports.dry_run", _l("dry run"))
        result = self._mapping_result(batch, data)
        sheets = list_sheets(data) if batch.file_format == "xlsx" else []
        inferred = {u.header: u for u in result.unmatched}
        return self.render_template(
            "imports/mapping.html", batch=batch,
            choices=field_choices(batch.kind, policy.viewer_for(batch.uploaded_by)),
            mapping=batch.mapping or {}, inferred=inferred, can_define=can_define,
            sheets=sheets, title=_l("Column mapping"))

    def _mapping_result(self, batch, data):
        from backoffice.imports.reading import open_table

        table = open_table(data, batch.filename, batch.sheet)
        sample = next(iter(table.chunks(service.SAMPLE_ROWS)), [])
        return service.auto_mapping(db.session, table.headers, batch.kind,
                                    [r.values for r in sample])

    def _change_sheet(self, batch, data, sheet):
        from backoffice.imports.reading import open_table

        table = open_table(data, batch.filename, sheet)
        sample = next(iter(table.chunks(service.SAMPLE_ROWS)), [])
        result = service.auto_mapping(db.session, table.headers, batch.kind,
                                      [r.values for r in sample])
        batch.sheet, batch.headers = table.sheet, list(table.headers)
        batch.mapping, batch.dry_run, batch.status = dict(result.columns), None, "uploaded"
        db.session.commit()

    def _enqueue(self, batch, job, what):
        user = current_user()
        run = enqueue_job(job, batch.id, requested_by_id=getattr(user, "id", None),
                          description=_l("Import #%(batch)s: %(step)s", batch=batch.id, step=what))
        db.session.expire_all()
        batch = db.session.get(ImportBatch, batch.id)
        if batch.job_run_id != run.id:
            batch.job_run_id = run.id
            db.session.commit()
        return redirect(url_for(".batch", pk=batch.id))

    @expose("/batch/<int:pk>")
    @has_access
    def batch(self, pk):
        return self._render_batch(self._batch(pk))

    def _render_batch(self, batch, blockers=None):
        """The batch page; ``blockers``: later batches a revert must wait for (their rows)."""
        batch = liveness.refresh(db.session, batch)  # a dead job's batch shows "interrupted"
        user = current_user()
        run = db.session.get(JobRun, batch.job_run_id) if batch.job_run_id else None
        preview = access.present_preview(
            db.session, pipeline.preview_of(db.session, batch) if batch.dry_run else None,
            policy.current_viewer(), is_uploader=batch.uploaded_by_id == user.id)
        links = []
        if batch.kind == "staff" and batch.uploaded_by_id == user.id:
            from backoffice.security import set_password

            links = set_password.deliver(db.session, batch.id)  # shown this once only
        return self.render_template(
            "imports/batch.html", batch=batch, run=run, kind_labels=KIND_LABELS,
            set_password_links=links,
            preview=preview, preview_limit=PREVIEW_ROWS,
            mode_labels=MODE_LABELS, status_labels=STATUS_LABELS,
            may_report=may_read_report(user, batch),
            may_decide=service.may_approve(user) and batch.uploaded_by_id != user.id,
            may_write=has_permission(user, "can_write", "ImportBatch"),
            may_dry_run=states.may_dry_run(batch), may_commit=states.may_commit(batch),
            may_resume=states.may_resume(batch), may_cancel=states.may_cancel(batch),
            blockers=blockers or {}, revertible=revertible(batch), title=_l("Import batch"))

    @expose("/batch/<int:pk>/progress")
    @has_access
    def progress(self, pk):
        """Rows done, rows per second and the estimated time left, polled by the batch page."""
        batch = liveness.refresh(db.session, self._batch(pk))
        run = db.session.get(JobRun, batch.job_run_id) if batch.job_run_id else None
        done = run.done if run is not None else batch.rows_done
        total = (run.total if run is not None else None) or batch.total_rows
        rate, eta = None, None
        if run is not None and run.started_at and run.status == "running":
            seconds = max((utcnow() - run.started_at).total_seconds(), 0.001)
            rate = int(done / seconds)
            if rate and total:
                eta = int(max(total - done, 0) / rate)
        elif batch.rows_per_second:
            rate = batch.rows_per_second
        return jsonify(id=batch.id, status=batch.status, job_status=getattr(run, "status", None),
                       done=done, total=total, rows_per_second=rate, eta_seconds=eta,
                       percent=(min(100, int(100 * done / total)) if total else 0),
                       created=batch.created_count, updated=batch.updated_count,
                       unchanged=batch.unchanged_count, rejected=batch.rejected_count,
                       message=stored_text.show(batch.message) or None)

    @expose("/batch/<int:pk>/run/<string:action>", methods=["POST"])
    @has_access
    def run(self, pk, action):
        batch = self._batch(pk)
        user = current_user()
        try:
            batch = liveness.refresh(db.session, batch)
            if action == "dryrun":
                service.check_dry_run(batch)
                return self._enqueue(batch, "jobs.imports.dry_run", _l("dry run"))
            if action == "commit":
                if service.request_commit(db.session, batch, user) == "queued":
                    return self._enqueue(batch, "jobs.imports.commit", _l("commit"))
                flash(_l("The batch waits for a second person's approval."), "info")
            elif action == "resume":
                service.resume(db.session, batch, user)
                return self._enqueue(batch, "jobs.imports.commit", _l("resume"))
            elif action == "cancel":
                if service.cancel(db.session, batch, user) in states.ACTIVE:
                    flash(_l("Cancellation requested: the job stops after its current "
                             "chunk."), "info")
                else:
                    flash(stored_text.show(batch.message) or _l("Cancelled."), "info")
            elif action == "revert":
                if not revertible(batch):
                    raise service.ImportRefused({"status": _l("This batch cannot be reverted.")})
                blockers = later_changes(db.session, batch)
                if blockers:  # nothing is written: the page offers the later batches first
                    log.record("import_revert_blocked", entity="ImportBatch",
                               entity_id=batch.id, actor=user,
                               detail={"later_batches": sorted(blockers)})
                    db.session.commit()
                    flash(Blocked(batch.id, blockers).errors["status"], "warning")
                    return self._render_batch(batch, blockers)
                run = enqueue_job("jobs.imports.revert", batch.id, user.id,
                                  requested_by_id=user.id,
                                  description=_l("Revert import #%(batch)s", batch=batch.id))
                result = run.result or {}
                if run.status == "failed":
                    flash(_l("The revert failed; nothing was changed."), "danger")
                elif result.get("message"):
                    flash(result["message"], "warning" if result.get("status") != "reverted"
                          else "info")
            else:
                abort(404)
        except (service.ImportRefused, WriteRefused) as refused:
            db.session.rollback()
            log.record("import_action_refused", entity="ImportBatch", entity_id=pk, actor=user,
                       detail={"action": action[:20], "status": batch.status})
            for message in refused.errors.values():
                flash(message, "danger")
        return redirect(url_for(".batch", pk=pk))

    @expose("/batch/<int:pk>/decide/<string:decision>", methods=["POST"])
    @has_access
    def decide(self, pk, decision):
        batch = self._batch(pk)
        user = current_user()
        try:
            if decision == "approve":
                service.approve(db.session, batch, user)
                return self._enqueue(batch, "jobs.imports.commit", _l("commit"))
            if decision == "reject":
                service.reject(db.session, batch, user)
            else:
                abort(404)
        except service.ImportRefused as refused:
            db.session.rollback()
            for message in refused.errors.values():
                flash(message, "danger")
        return redirect(url_for(".batch", pk=pk))

    @expose("/report/<int:pk>")
    @has_access
    def report(self, pk):
        """The error report workbook: uploader, approvers and auditors only; logged."""
        batch = self._batch(pk)
        user = current_user()
        if not may_read_report(user, batch):
            abort(404)
        try:
            data = files.load(db.session, batch.id, "report")
        except ImportFileError as problem:
            flash(str(problem.message), "danger")
            return redirect(url_for(".batch", pk=pk))
        if data is None:
            flash(_l("The error report is no longer kept (retention period)."), "warning")
            return redirect(url_for(".batch", pk=pk))
        uploader = batch.uploaded_by_id == user.id
        data = access.report_for(data, batch.kind, batch.mapping or {},
                                 policy.current_viewer(), is_uploader=uploader)
        log.record("import_report_download", entity="ImportBatch", entity_id=batch.id,
                   actor=user, detail={"rejected": batch.rejected_count,
                                       "values": "original" if uploader else "masked"})
        name = f"import-{batch.id}-errors-{utcnow():%Y%m%d%H%M%S}.xlsx"
        return Response(data, mimetype="application/vnd.openxmlformats-officedocument."
                        "spreadsheetml.sheet", headers={
                            "Content-Disposition": f"attachment; filename={name}",
                            "Cache-Control": "no-store"})
