"""Exports above the cap (``CRM_EXPORT_MAX_ROWS``): asked for, approved by a second person, then
downloaded once by the requester.

Why the file is not produced at approval time: no file of customer data should wait on the
server for a decision. The request keeps only the list (view endpoint, format, filter arguments)
and the number of rows it held; at download the requester runs the very same list export again
(``CrmModelView.export`` with ``export_request=<id>``), so the file carries the requester's own
record scope, masks and field visibility, the usual stamp, and the usual operation-log entry with
its row ids. A list that has grown past the approved count is refused rather than cut short.

Who decides: a second person (never the requester) holding ``can_approve`` on ``ExportRequest``
whose own record scope covers the request's. A request reaches what its requester's record scope
reaches (the filters only narrow it, and may be changed by editing a URL, so they are not relied
on): the whole bank for a scope ``all``, one branch, or the customers the requester owns or
serves. So a senior manager (``all``) may decide any request; a branch manager the requests of a
scope on their own branch, and of an "own" book only when every customer of that book is in
their branch (an RM of branch A whose book has moved to branch B is decided in branch B or above);
nobody but an ``all`` scope decides a request for the whole bank. Derived from the requester, not
stored: the check runs again at download, so an approval no longer covered (a book moved, an
approver demoted or deactivated) is refused rather than used. An approval is good for one
download within ``CRM_EXPORT_APPROVAL_HOURS`` (24 by default) of the decision.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.audit import log
from backoffice.errors import WriteRefused
from backoffice.extensions import db
from backoffice.notifications.sources import export_request_waiting
from backoffice.security.permissions import has_permission
from backoffice.security.scopes import RecordScope, scope_for_user
from models import Customer, Staff
from models.base import utcnow
from models.imports import ExportRequest

REQUEST_ARG = "export_request"
OWN_ARGS = {"view", "fmt", "reason", "csrf_token", REQUEST_ARG}
PERMISSION_VIEW = "ExportRequest"


class ExportRefused(WriteRefused):
    """The request, decision or download cannot go ahead; ``errors`` says why."""


def approval_window() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config["CRM_EXPORT_APPROVAL_HOURS"]))


def filter_args(args) -> dict:
    """The list's own arguments (filters, custom-field conditions, order) as ``{name: [values]}``,
    without this module's arguments: what identifies "the same list" at download time."""
    return {name: values for name, values in args.to_dict(flat=False).items()
            if name not in OWN_ARGS}


def exact_count(view, joined) -> int:
    """How many rows the filtered list holds, uncounted by the list's display cap (scoped by the
    request's record scope like the list itself)."""
    model = view.datamodel
    query = model._apply_inner_all(model.session.query(model.obj), joined,
                                   select_columns=None, aliases_mapping={})
    return query.order_by(None).count()


def list_view(endpoint: str):
    """The exportable list view with this endpoint, or None."""
    for view in current_app.appbuilder.baseviews:
        if view.endpoint == endpoint and getattr(view, "exportable", False):
            return view
    return None


def may_export(user, view) -> bool:
    return has_permission(user, "can_export", view.class_permission_name)


# --- asking ------------------------------------------------------------------------------------


def create(user, view, fmt: str, args: dict, row_count: int, reason: str) -> ExportRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ExportRefused({"reason": _l("Say why you need this export.")})
    if len(reason) > 500:
        raise ExportRefused({"reason": _l("Longer than %(max)s characters.", max=500)})
    entry = ExportRequest(endpoint=view.endpoint, entity=view.datamodel.obj.__name__, fmt=fmt,
                          args=args, row_count=int(row_count), reason=reason, status="pending",
                          requested_by_id=user.id, created_at=utcnow())
    db.session.add(entry)
    db.session.flush()
    log.record("export_request", entity="ExportRequest", entity_id=entry.id, actor=user,
               detail={"list": entry.entity, "format": fmt, "rows": entry.row_count,
                       "filters": args})
    export_request_waiting(db.session, entry, user, may_decide)  # its deciders are told
    db.session.commit()
    return entry


# --- deciding ----------------------------------------------------------------------------------


def may_decide(user, entry: ExportRequest) -> bool:
    """A second person with approval rights whose scope covers the requester."""
    return not decide_errors(user, entry, check_status=False)


def decide_errors(user, entry: ExportRequest, check_status: bool = True) -> dict:
    errors = {}
    if user is None or entry.requested_by_id == user.id:
        errors["requester"] = _l("You cannot decide your own export request; another person "
                                 "must.")
    elif not has_permission(user, "can_approve", PERMISSION_VIEW):
        errors["permission"] = _l("You have no right to approve export requests.")
    elif not covers(scope_for_user(user), requester_scope(entry)):
        errors["scope"] = _l("This request reaches customers outside your own scope.")
    if check_status and entry.status != "pending":
        errors["status"] = _l("This request has already been decided.")
    return errors


def requester_scope(entry: ExportRequest) -> RecordScope:
    """The record scope the requester's export runs under (as of now)."""
    requester = db.session.get(Staff, entry.requested_by_id) if entry.requested_by_id \
        else None
    return scope_for_user(requester)


def covers(outer: RecordScope, inner: RecordScope) -> bool:
    """Whether every customer ``inner`` reaches is in ``outer`` too.

    Structural where it can be (``all`` covers everything and only ``all`` covers ``all``; a
    branch covers itself), else counted on the customer table as it stands, outside any request
    scope (the decider's own scope must not hide the customers it fails to cover).
    """
    if outer.kind == "all":
        return True
    if outer.kind not in ("branch", "own") or inner.kind not in ("branch", "own"):
        return False
    if inner.kind == "branch":
        if outer.kind == "branch":
            return outer.branch_id is not None and inner.branch_id == outer.branch_id
    reached = inner.customer_condition()
    within = outer.customer_condition()

    def count(*conditions) -> int:
        return db.session.execute(select(func.count()).select_from(Customer).where(*conditions)
                                  .execution_options(crm_unscoped=True)).scalar_one()

    return count(reached) == count(reached, within)


def decide(user, entry: ExportRequest, approve: bool) -> ExportRequest:
    errors = decide_errors(user, entry)
    if errors:
        raise ExportRefused(errors)
    entry.status = "approved" if approve else "rejected"
    entry.decided_by_id, entry.decided_at = user.id, utcnow()
    db.session.flush()
    log.record("export_approve" if approve else "export_reject", entity="ExportRequest",
               entity_id=entry.id, actor=user,
               detail={"requested_by": entry.requested_by_id, "rows": entry.row_count})
    db.session.commit()
    return entry


def pending_for(user, limit: int = 200) -> list[ExportRequest]:
    """The pending requests this user may decide."""
    if not has_permission(user, "can_approve", PERMISSION_VIEW):
        return []
    entries = db.session.execute(select(ExportRequest).where(
        ExportRequest.status == "pending").order_by(ExportRequest.id).limit(limit)).scalars()
    return [entry for entry in entries if may_decide(user, entry)]


def requests_of(user, limit: int = 100) -> list[ExportRequest]:
    return list(db.session.execute(select(ExportRequest).where(
        ExportRequest.requested_by_id == user.id).order_by(ExportRequest.id.desc())
        .limit(limit)).scalars())


# --- downloading -------------------------------------------------------------------------------


def expires_at(entry: ExportRequest) -> dt.datetime | None:
    return entry.decided_at + approval_window() if entry.decided_at else None


def download_errors(user, entry: ExportRequest | None) -> dict:
    """Why this user may not download this request's file now (empty: they may)."""
    if entry is None or user is None or entry.requested_by_id != user.id:
        return {"request": _l("There is no approved export request of yours with this "
                              "number.")}
    if entry.status == "used":
        return {"status": _l("This approved export was already downloaded; an approval is "
                             "good for one download.")}
    if entry.status != "approved":
        return {"status": _l("This export request is not approved.")}
    if utcnow() > expires_at(entry):
        return {"status": _l("This approval has expired; request the export again.")}
    decider = db.session.get(Staff, entry.decided_by_id) if entry.decided_by_id else None
    if not covers(scope_for_user(decider), scope_for_user(user)):
        return {"scope": _l("The approver's scope no longer covers the customers of this "
                            "export; request the export again.")}
    return {}


def download_url(entry: ExportRequest) -> str:
    return url_for(f"{entry.endpoint}.export", fmt=entry.fmt, **{REQUEST_ARG: entry.id},
                   **(entry.args or {}))


def above_cap(view, fmt: str, joined, order_column: str, order_direction: str, limit: int):
    """Called by the list export when the list holds more than ``limit`` rows.

    Returns the items to export when the request names a valid approval for this very list,
    else a response: the form to ask for an approval, or the list with the reason.
    """
    user = current_app.appbuilder.sm.current_user
    number = request.args.get(REQUEST_ARG, type=int)
    if number is None:
        return redirect(url_for("ExportRequestView.ask", view=view.endpoint, fmt=fmt,
                                **filter_args(request.args)))
    entry = db.session.get(ExportRequest, number)
    errors = download_errors(user, entry)
    if not errors and (entry.endpoint != view.endpoint or entry.fmt != fmt
                       or (entry.args or {}) != filter_args(request.args)):
        errors = {"request": _l("The approval was given for another list or format.")}
    if not errors and exact_count(view, joined) > entry.row_count:
        errors = {"rows": _l("The list now holds more than the %(count)s rows approved; "
                             "request the export again.", count=entry.row_count)}
    if errors:
        for message in errors.values():
            flash(str(message), "warning")
        return redirect(url_for(f"{view.endpoint}.list", **filter_args(request.args)))
    entry.status, entry.used_at = "used", utcnow()  # one download: spent before the file
    db.session.flush()
    log.record("export_request_used", entity="ExportRequest", entity_id=entry.id, actor=user,
               detail={"list": entry.entity, "format": fmt, "rows": entry.row_count})
    db.session.commit()
    _, items = view.datamodel.query(joined, order_column, order_direction,
                                    page_size=entry.row_count)
    return items


def status_label(entry: ExportRequest) -> str:
    if entry.status == "approved" and utcnow() > expires_at(entry):
        return gettext("Expired")
    return str(STATUS_LABELS.get(entry.status, entry.status))


STATUS_LABELS = {"pending": _l("Waiting for approval"), "approved": _l("Approved"),
                 "rejected": _l("Rejected"), "used": _l("Downloaded")}
