"""The auditor's screens: the operation log, filtered, shown row by row, and exported.

Read-only (``can_read``) plus ``can_export`` on ``AuditLog``. Values are masked when written, so
what an auditor sees and exports is already masked. The export takes the same filters as the
list, writes CSV or XLSX, and is itself logged (``audit_export``, with the filters and count).
Logged values come from users (names, user agents, details): their cells go through the export
rules of :mod:`backoffice.exports`, so none of them runs as a formula where the file is opened.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile

from flask import abort, send_file
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.urltools import get_filter_args
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from wtforms import StringField

from backoffice.audit import archive as archive_mod
from backoffice.audit import choices
from backoffice.audit import words
from backoffice.audit.log import record
from backoffice.datamodel import ListInterface
from backoffice.security import policy
from backoffice.exports import csv_rows, xlsx_cell
from backoffice.formatting import local_time, local_time_seconds
from backoffice.views_base import VIEW_METHOD_PERMISSIONS, CrmModelView
from models.audit import AuditLog

EXPORT_COLUMNS = archive_mod.COLUMNS
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header


class FilterCustomerRef(BaseFilter):
    """Rows about one customer, given by customer number (C000000123) or by id."""

    name = _l("Customer number or id is")
    arg_name = "cref"

    def apply(self, query, value):
        return query.filter(AuditLog.customer_id == resolve_customer(value))


class _LocalTimeFilter(BaseFilter):
    """A time bound typed in the display zone (Asia/Shanghai), compared with the UTC column.

    FAB's own date filters would compare the typed text with UTC directly, eight hours off
    from the times the list shows. A bare date means midnight local time.
    """

    def bound(self, value):
        import datetime as dt
        from zoneinfo import ZoneInfo

        from flask import current_app

        text = (value or "").strip().replace("T", " ")
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                local = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
        zone = ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])
        return local.replace(tzinfo=zone).astimezone(dt.timezone.utc).replace(tzinfo=None)


class FilterFrom(_LocalTimeFilter):
    name = _l("From (local time)")
    arg_name = "from"

    def apply(self, query, value):
        bound = self.bound(value)
        return query if bound is None else query.filter(AuditLog.occurred_at >= bound)


class FilterUntil(_LocalTimeFilter):
    name = _l("Before (local time)")
    arg_name = "until"

    def apply(self, query, value):
        bound = self.bound(value)
        return query if bound is None else query.filter(AuditLog.occurred_at < bound)


def resolve_customer(value) -> int:
    """A customer id from a number or an id (-1, matching nothing, when unknown).

    Resolved on the ``customer`` table directly: auditors have no record scope over customers,
    and a number-to-id lookup shows them nothing but the log rows they may already read.
    """
    from backoffice.extensions import db
    from models import Customer

    text = (value or "").strip()
    if text.isdigit():
        return int(text)
    table = Customer.__table__
    found = db.session.execute(
        select(table.c.id).where(table.c.customer_no == text.upper())
    ).scalar_one_or_none()
    return found if found is not None else -1


class LoggedDetail(str):
    """A row's detail text as the reader may see it, with the record type it is about (the
    formatter needs both: field names and codes are labelled by that type's words)."""

    entity: str | None = None

    def __new__(cls, text: str, entity: str | None):
        made = super().__new__(cls, text)
        made.entity = entity
        return made


def _detail(value):
    """The detail as labelled lines (escaped: it holds whatever was logged)."""
    lines = words.detail_lines(value, getattr(value, "entity", None))
    if not lines:
        return ""
    return Markup('<dl class="dl-horizontal crm-log-detail">{}</dl>').format(Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(label, text) for label, text in lines))


def shown_detail(entity, detail: str | None) -> str | None:
    """A row's detail JSON as the reader may see it (``policy.log_detail_shown``): custom
    fields outside the reader's roles and deep-profile values withheld."""
    if not detail:
        return detail
    try:
        document = json.loads(detail)
    except ValueError:
        return detail
    return json.dumps(policy.log_detail_shown(entity, document), ensure_ascii=False)


class AuditLogInterface(ListInterface):
    """The log's data interface: its detail column read through the field-access policy."""

    def _get_attr_value(self, item, col):
        value = super()._get_attr_value(item, col)
        if col == "detail":
            shown = shown_detail(item.entity, value)
            return LoggedDetail(shown, item.entity) if shown else shown
        return value


class AuditLogView(CrmModelView):
    """The operation log, newest first, filtered by actor, action, customer, entity, time, IP."""

    datamodel = AuditLogInterface(AuditLog)  # capped counts, bounded offsets at 10M rows
    class_permission_name = "AuditLog"
    route_base = "/auditlog"
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "export": "export"}
    base_permissions = ["can_read", "can_export"]
    list_template = "audit/list.html"
    list_title = _l("Operation log")
    show_title = _l("Operation log entry")
    label_columns = {
        "id": _l("No."), "occurred_at": _l("Time"), "actor_id": _l("Actor id"),
        "actor_username": _l("Actor"), "actor_roles": _l("Roles"), "ip": _l("IP address"),
        "user_agent": _l("User agent"), "action": _l("Action"), "entity": _l("Entity"),
        "entity_id": _l("Record id"), "customer_id": _l("Customer"), "detail": _l("Detail"),
        "prev_hash": _l("Previous hash"), "row_hash": _l("Row hash"),
    }
    list_columns = ["id", "occurred_at", "actor_username", "actor_roles", "ip", "action",
                    "entity", "entity_id", "customer_id"]
    show_columns = ["id", "occurred_at", "actor_username", "actor_id", "actor_roles", "ip",
                    "user_agent", "action", "entity", "entity_id", "customer_id", "detail",
                    "prev_hash", "row_hash"]
    search_columns = ["actor_username", "action", "customer_id", "entity", "entity_id",
                      "occurred_at", "ip"]
    order_columns = ["id", "occurred_at"]
    base_order = ("id", "desc")
    formatters_columns = {"occurred_at": local_time, "detail": _detail,
                          "action": words.action_label, "entity": words.entity_label,
                          "actor_roles": words.roles_label}

    def _init_properties(self):
        super()._init_properties()
        self.search_form_extra_fields = {
            **(self.search_form_extra_fields or {}),
            "customer_id": StringField(_l("Customer")),
        }
        replaced = {
            "customer_id": [FilterCustomerRef("customer_id", self.datamodel)],
            "occurred_at": [FilterFrom("occurred_at", self.datamodel),
                            FilterUntil("occurred_at", self.datamodel)],
        }
        for column, filters in replaced.items():
            self._filters._search_filters[column] = filters
            self._filters._all_filters[column] = filters
        choices.install(self)  # actions and record types picked by label

    @expose("/export/<string:fmt>", methods=["GET"])
    @has_access
    def export(self, fmt):
        """The filtered log as CSV or XLSX; the export itself goes on record."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        get_filter_args(self._filters)
        query = self._filters.apply_all(self.datamodel.session.query(AuditLog))
        query = query.order_by(AuditLog.id)
        rows = (presented(_as_mapping(item)) for item in query.yield_per(2000))
        handle, count = (_write_csv if fmt == "csv" else _write_xlsx)(rows)
        record("audit_export", entity="AuditLog", detail={
            "format": fmt, "count": count,
            "filters": [[flt.column_name, flt.arg_name, value] for flt, value
                        in zip(self._filters.filters, self._filters.values)],
        })
        mimetype = ("text/csv" if fmt == "csv" else
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return send_file(handle, mimetype=mimetype, as_attachment=True,
                         download_name=f"operation-log.{fmt}")


def _as_mapping(item) -> dict:
    row = {name: getattr(item, name) for name in EXPORT_COLUMNS}
    if "detail" in row:
        row["detail"] = shown_detail(item.entity, row["detail"])
    return row


PRESENTED = {"action": words.action_label, "entity": words.entity_label,
             "actor_roles": words.roles_label, "detail": words.detail_text}


def presented(row: dict) -> dict:
    """An exported row as the screen shows it: labels, not codes; the detail as lines; times
    in the display zone. (The archives keep the values exactly as hashed.)"""
    shown = {name: (PRESENTED[name](value) if name in PRESENTED else value)
             for name, value in row.items()}
    if "detail" in row:  # field names and codes in the words of the row's record type
        shown["detail"] = words.detail_text(row["detail"], row.get("entity"))
    if row.get("occurred_at") is not None:
        shown["occurred_at"] = local_time_seconds(row["occurred_at"])
    if row.get("entity") == "Role" and row.get("entity_id"):  # a role's record id is its name
        shown["entity_id"] = words.roles_label(str(row["entity_id"]))
    return shown


def export_headers() -> list[str]:
    """The header row in the auditor's language (the screen's column labels). The columns are
    always those of :data:`EXPORT_COLUMNS`, in that order, as the archives write them."""
    return [str(AuditLogView.label_columns.get(name, name)) for name in EXPORT_COLUMNS]


def _write_csv(rows):
    handle = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
    writer.writerow(dict(zip(EXPORT_COLUMNS, export_headers())))
    count = 0
    for row in csv_rows(rows):  # a logged value never runs as a formula in a spreadsheet
        writer.writerow(row)
        count += 1
    text.flush()
    text.detach()
    handle.seek(0)
    return handle, count


def _write_xlsx(rows):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(_l("Operation log")))
    sheet.append(export_headers())
    count = 0
    for row in rows:
        if count >= XLSX_MAX_ROWS:
            break
        sheet.append([xlsx_cell(sheet, row[name]) for name in EXPORT_COLUMNS])
        count += 1
    handle = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")
    workbook.save(handle)
    handle.seek(0)
    return handle, count


def register(appbuilder) -> None:
    from config import roles as r

    appbuilder.add_view(AuditLogView, r.MENU_OPERATION_LOG, label=_l("Operation log"),
                        icon="fa-history", category=r.CATEGORY_SYSTEM,
                        category_label=_l("System"), category_icon="fa-wrench")
