"""Exports of list screens to CSV and XLSX, governed like every other read of customer data.

An export is the list the user is looking at (same record scope, same filters), presented the
same way (masks, withheld deep-profile values, translated codes), capped at a configurable size,
stamped with who exported it and when, and written to the operation log with the ids it holds.
Exports above the cap need a second person's approval first, and are then downloaded once by the
requester, built the same way (``backoffice.imports.export_requests``).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext
from openpyxl import Workbook

from backoffice.formatting import local_time
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


def export_limit() -> int:
    return int(current_app.config.get("CRM_EXPORT_MAX_ROWS", 10000))


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
            if column in formatters:
                value = formatters[column](value)
            row.append("" if value is None else str(value))
        rows.append(row)
    stamp = gettext("Exported by %(user)s at %(time)s", user=username,
                    time=local_time(utcnow()))
    headers = [str(view.label_columns.get(column, column)) for column in columns]
    return ExportTable(stamp, headers, rows, view.datamodel.get_keys(items))


def to_csv(table: ExportTable) -> bytes:
    """UTF-8 with BOM, which is what Excel in Chinese locales opens without garbling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([table.stamp])
    writer.writerow(table.headers)
    writer.writerows(table.rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(table: ExportTable, creator: str) -> bytes:
    workbook = Workbook(write_only=True)
    workbook.properties.creator = creator
    sheet = workbook.create_sheet()
    sheet.append([table.stamp])
    sheet.append(table.headers)
    for row in table.rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def file_name(entity: str, username: str, fmt: str) -> str:
    return f"{entity.lower()}-{username}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"
