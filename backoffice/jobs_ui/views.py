"""The job-run screen and its progress endpoint (read by the import screens' progress bars).

A run's message and result were written by a job, in no reader's language: the message is shown
through ``backoffice.stored_text`` (a lazy translation the runner stored as its message id reads
in the reader's language), the result as labelled, formatted figures
(``backoffice.jobs_ui.results``), never as the job's dict keys.
"""
from __future__ import annotations

from flask import abort, jsonify
from flask_appbuilder import expose, has_access
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from backoffice import stored_text
from backoffice.datamodel import CrmInterface
from backoffice.formatting import choice_label, local_time
from backoffice.jobs_ui import results
from backoffice.views_base import CrmModelView
from models import JobRun
from models import choices as c


class JobRunView(CrmModelView):
    datamodel = CrmInterface(JobRun)
    class_permission_name = "JobRun"
    route_base = "/jobs"
    list_title = _l("Background jobs")
    show_title = _l("Background job")
    base_permissions = ["can_read"]
    label_columns = {"name": _l("Job"), "status": _l("Status"), "done": lazy_pgettext("items processed", "Done"),
                     "total": _l("Total"), "percent": _l("Progress %"),
                     "message": _l("Message"), "created_at": _l("Created at"),
                     "started_at": _l("Started at"), "finished_at": _l("Finished at"),
                     "error": _l("Error"), "result": _l("Result")}
    list_columns = ["id", "name", "status", "percent", "created_at", "finished_at"]
    show_columns = ["id", "name", "status", "done", "total", "percent", "message", "result",
                    "error", "created_at", "started_at", "finished_at"]
    search_columns = ["name", "status", "created_at"]
    base_order = ("id", "desc")
    formatters_columns = {"status": choice_label(c.JOB_STATUSES), "created_at": local_time,
                          "started_at": local_time, "finished_at": local_time,
                          "message": stored_text.show, "result": results.table}

    @expose("/progress/<int:pk>")
    @has_access
    def progress(self, pk):
        """Progress as JSON, polled by progress bars on any web process."""
        run = self.datamodel.get(pk)
        if run is None:
            abort(404)
        return jsonify(id=run.id, status=run.status, done=run.done, total=run.total,
                       percent=run.percent, message=stored_text.show(run.message) or None)
