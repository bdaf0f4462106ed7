"""Exports of list screens to CSV and XLSX, governed like every other read of customer data.

An export is the list the user is looking at (same record scope, same filters), presented the
same way (masks, withheld deep-profile values, translated codes), capped at a configurable size,
stamped with who exported it and when, and written to the operation log with the ids it holds.
Exports above the cap need a second person's approval first, and are then downloaded once by the
requester, built the same way (``backoffice.imports.export_requests``). The handler of the lists'
``export`` route lives here (:func:`export_list`) and is plugged into the base view at start-up
(:func:`install`): the core view class offers the route, this feature answers it.

Every spreadsheet the application writes (these lists, approved export requests, the operation
log and its archives, import error reports) passes its cells through this module, so that a value
a user typed can never run as a formula where the file is opened (OWASP's CSV-injection guidance,
ASVS 1.2.10). A text starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return, line feed or
NUL, also after leading blanks (some spreadsheets trim them before parsing), is dangerous:

- in CSV, which has no cell types, it gets a leading single quote (:func:`neutralise`). A text
  that already starts with a quote gets one too, so that a reader can always undo the change by
  removing exactly one leading quote;
- in XLSX it is written unchanged as a string cell with Excel's "quote prefix" style
  (:func:`xlsx_cell`): what Excel itself stores for a typed ``'=...``, never a formula, shown
  and copied without a visible quote, and still text when the cell is edited.

Numbers stay numbers: a plain number (optional sign, digits with optional thousands separators,
optional decimals: ``-12.50``, ``1,234,567.89``, ``+8613800000000``) is no formula and is left
as it is, so a negative amount stays readable; in XLSX the numeric columns of a list are
written as numeric cells with the screen's grouping and decimals. ``-2+3`` or ``+86 138...`` are
not plain numbers and are neutralised.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from backoffice.formatting import display, local_time
from models.base import utcnow

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class ExportTable:
    """What an export holds: a title line, headers, rows of display text, and the record ids."""

    stamp: str
    headers: list[str]
    rows: list[list[str]]
    ids: list
    numeric: list[bool] = field(default_factory=list)
    """Per column: the model column is a number, so its cells are numeric in XLSX."""


# --- formula neutralisation --------------------------------------------------------------------

FORMULA_STARTS = frozenset("=+-@\t\r\n\0")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\Z")


def plain_number(text: str) -> bool:
    return bool(_PLAIN_NUMBER.match(text))


def formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (or the start of one)."""
    if not text or plain_number(text):
        return False
    if text[0] in FORMULA_STARTS:
        return True
    stripped = text.lstrip()  # blanks, full-width space included
    return stripped != text and formula_like(stripped)


def neutralise(value):
    """A CSV cell: a dangerous text with a leading quote; anything else unchanged."""
    if not isinstance(value, str):
        return value
    if formula_like(value) or value.startswith("'"):
        return "'" + value
    return value


def xlsx_cell(sheet, value):
    """An XLSX cell for a write-only ``sheet``: numbers, dates and None as they are, text as a
    string cell that is never a formula (openpyxl makes any str starting with ``=`` one), with
    the control characters a worksheet cannot hold shown as ``\\x01`` instead of failing."""
    if value is None or isinstance(value, (bool, int, float, Decimal, dt.date, dt.time)):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    if not formula_like(text):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def xlsx_number(sheet, text: str):
    """A displayed number (``-1,234.50``) as a numeric cell shown the same way; other text
    (a withheld or masked value) as :func:`xlsx_cell` writes it."""
    if not isinstance(text, str) or not plain_number(text):
        return xlsx_cell(sheet, text)
    _, _, decimals = text.partition(".")
    cell = WriteOnlyCell(sheet, value=Decimal(text.replace(",", "")))
    cell.number_format = "#,##0" + ("." + "0" * len(decimals) if decimals else "")
    return cell


def csv_rows(rows):
    """``rows`` (lists or dicts of cells) with every cell neutralised, for ``csv`` writers."""
    for row in rows:
        if isinstance(row, dict):
            yield {name: neutralise(value) for name, value in row.items()}
        else:
            yield [neutralise(value) for value in row]


def _numeric_column(view, column: str) -> bool:
    """A number column of the model, or a custom field of a number type."""
    from backoffice.fields.display import key_of_column
    from backoffice.fields.registry import NUMERIC_TYPES, field_spec

    key = key_of_column(column)
    entity = getattr(view, "custom_field_entity", None)
    if key is not None and entity:
        spec = field_spec(entity, key)
        return spec is not None and spec.type in NUMERIC_TYPES
    return any(getattr(view.datamodel, test, lambda name: False)(column)
               for test in ("is_numeric", "is_integer", "is_float"))


def export_limit() -> int:
    return int(current_app.config["CRM_EXPORT_MAX_ROWS"])


def build_table(view, items, username: str) -> ExportTable:
    """Present ``items`` exactly as the list screen shows them (masks and formatters included)."""
    columns = view.list_columns
    values = view.datamodel.get_values(items, columns)
    formatters = view.formatters_columns or {}
    rows = []
    for value_row in values:
        row = []
        for column in columns:
            value = value_row[column]
            formatter = dict.get(formatters, column) or display
            value = formatter(value)
            row.append("" if value is None else str(value))
        rows.append(row)
    stamp = gettext("Exported by %(user)s at %(time)s", user=username,
                    time=local_time(utcnow()))
    headers = [str(view.label_columns.get(column, column)) for column in columns]
    numeric = [_numeric_column(view, column) for column in columns]
    return ExportTable(stamp, headers, rows, view.datamodel.get_keys(items), numeric)


def to_csv(table: ExportTable) -> bytes:
    """UTF-8 with BOM, which is what Excel in Chinese locales opens without garbling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(csv_rows([[table.stamp], table.headers, *table.rows]))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(table: ExportTable, creator: str) -> bytes:
    workbook = Workbook(write_only=True)
    workbook.properties.creator = creator
    sheet = workbook.create_sheet()
    sheet.append([xlsx_cell(sheet, table.stamp)])
    sheet.append([xlsx_cell(sheet, header) for header in table.headers])
    numeric = table.numeric or [False] * len(table.headers)
    for row in table.rows:
        sheet.append([xlsx_number(sheet, value) if number else xlsx_cell(sheet, value)
                      for value, number in zip(row, numeric)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def file_name(entity: str, username: str, fmt: str) -> str:
    return f"{entity.lower()}-{username}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"


# --- the list screens' export route ------------------------------------------------------------

def export_list(view, fmt: str):
    """The filtered list of ``view`` as CSV or XLSX, presented as on screen and logged with its
    ids. The base view's ``export`` route calls this once :func:`install` has registered it, so
    the core view class holds no export code of its own."""
    from flask import Response, abort, request
    from flask_appbuilder.urltools import get_filter_args

    from backoffice.audit.log import record

    if fmt not in FORMATS:
        abort(404)
    get_filter_args(view._filters)
    joined = view.list_filters(view._filters).get_joined_filters(view._base_filters)
    order_column, order_direction = view.base_order or ("", "")
    limit = export_limit()
    count, items = view.datamodel.query(joined, order_column, order_direction,
                                        page_size=limit + 1)
    if count > limit or len(items) > limit:  # a capped list count stops at its cap
        # Above the cap: the approval form, or the rows of an approved request of this user
        # (backoffice.imports.export_requests); the file below is then built as usual.
        from backoffice.imports.export_requests import above_cap

        items = above_cap(view, fmt, joined, order_column, order_direction, limit)
        if not isinstance(items, list):
            return items
    user = view.appbuilder.sm.current_user
    table = build_table(view, items, user.username)
    record("export", entity=view.datamodel.obj.__name__,
           detail={"format": fmt, "count": len(table.ids), "ids": table.ids,
                   "filters": {k: v for k, v in request.args.items()}})
    data = to_csv(table) if fmt == "csv" else to_xlsx(table, creator=user.username)
    name = file_name(view.datamodel.obj.__name__, user.username, fmt)
    return Response(data, mimetype=FORMATS[fmt], headers={
        "Content-Disposition": f"attachment; filename={name}",
        "Cache-Control": "no-store"})


def install(app) -> None:
    """Plug the export handler into the base view's ``export`` route for this app."""
    from backoffice.views_base import register_export_handler

    register_export_handler(app, export_list)
