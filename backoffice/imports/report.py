"""The error report: a workbook of the rejected rows, as the uploader needs to fix them.

Sheet one holds each rejected row once, with its spreadsheet row number, its original values
(exactly as read, so the person can correct and re-upload them) and its problems; sheet two
holds one line per problem (row, column, message), which filters and sorts in Excel. The report
holds customer data as the uploaded file did: it is stored with the batch, shown only to the
uploader, approvers and auditors, and every download is logged.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

MAX_ROWS = 200_000  # rows beyond this are counted, not listed (the report says so)


@dataclass
class Rejected:
    row: int
    values: dict
    problems: list  # (column, message text)


@dataclass
class ErrorReport:
    headers: list[str]
    rows: list[Rejected] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, values: dict, problems: list) -> None:
        self.total += 1
        if len(self.rows) < MAX_ROWS:
            self.rows.append(Rejected(row, dict(values), list(problems)))

    def to_xlsx(self) -> bytes:
        workbook = Workbook(write_only=True)
        rows_sheet = workbook.create_sheet(gettext("Rejected rows"))
        rows_sheet.append([gettext("Row"), *(_cell(rows_sheet, h) for h in self.headers),
                           gettext("Problems")])
        for item in self.rows:
            rows_sheet.append([item.row, *(_cell(rows_sheet, item.values.get(h, ""))
                                           for h in self.headers),
                               _cell(rows_sheet, "\n".join(m for _, m in item.problems))])
        if self.total > len(self.rows):
            rows_sheet.append([gettext("%(count)s more rejected rows are not listed.",
                                       count=self.total - len(self.rows))])
        problems_sheet = workbook.create_sheet(gettext("Problems"))
        problems_sheet.append([gettext("Row"), gettext("Column"), gettext("Problem")])
        for item in self.rows:
            for column, message in item.problems:
                problems_sheet.append([item.row, _cell(problems_sheet, column),
                                       _cell(problems_sheet, message)])
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()


def _cell(sheet, value):
    """The text as it was, but never a live formula (``=...`` from a hostile file), and control
    characters a worksheet cannot hold shown as ``\\x01`` instead of failing the report."""
    text = "" if value is None else str(value)
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell
