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
from openpyxl import Workbook, load_workbook

from backoffice.exports import xlsx_cell

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
    # (column, problem without its row) -> [rows, first row]: the summary sheet, also counting
    # the rows beyond MAX_ROWS, so "10000 rows rejected" comes with its why.
    kinds: dict = field(default_factory=dict)

    def add(self, row: int, values: dict, problems: list, kinds: list | None = None) -> None:
        """``problems``: (column, message) pairs; ``kinds``: the same problems without the row
        number in their text (what rows share), one per problem."""
        self.total += 1
        if len(self.rows) < MAX_ROWS:
            self.rows.append(Rejected(row, dict(values), list(problems)))
        for (column, message), kind in zip(problems, kinds or [m for _, m in problems]):
            entry = self.kinds.setdefault((column, kind), [0, row])
            entry[0] += 1

    def common(self, limit: int | None = None) -> list[tuple[str, str, int, int]]:
        """(column, problem, rows, first row), most frequent first."""
        ranked = sorted(self.kinds.items(), key=lambda item: (-item[1][0], item[1][1]))
        return [(column, kind, n, first) for (column, kind), (n, first) in ranked[:limit]]

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
        summary_sheet = workbook.create_sheet(gettext("Summary"))
        summary_sheet.append([gettext("Column"), gettext("Problem"), gettext("Rows"),
                              gettext("First row")])
        for column, kind, n, first in self.common():
            summary_sheet.append([_cell(summary_sheet, column), _cell(summary_sheet, kind), n,
                                  first])
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()


def common_problems(data: bytes, limit: int = 5) -> list[dict]:
    """The first ``limit`` lines of a stored report's summary sheet: what the command line
    prints, so that an operator learns why rows were rejected without opening the workbook."""
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    try:
        if len(workbook.worksheets) < 3:  # a report stored before the summary sheet existed
            return []
        lines = workbook.worksheets[2].iter_rows(min_row=2, max_row=limit + 1, max_col=4,
                                                 values_only=True)
        return [{"column": column, "message": message, "rows": n, "first_row": first}
                for column, message, n, first in lines if message is not None]
    finally:
        workbook.close()


def _cell(sheet, value):
    """The text as it was (the uploader corrects and re-uploads it), but never a live formula
    from a hostile file: the one cell rule of every export (:func:`backoffice.exports.xlsx_cell`,
    a quote-prefixed string cell, control characters shown as ``\\x01``)."""
    return xlsx_cell(sheet, "" if value is None else str(value))
