"""Reading an uploaded spreadsheet as a stream of row chunks, in bounded memory.

A file is CSV (UTF-8, UTF-8 with BOM or GBK/GB18030, which is what Chinese Excel writes; comma,
semicolon or tab separated) or an Excel workbook (through python-calamine, with a sheet choice).
Rows come out as ``RawRow(number, values)``: the 1-based row number a person sees in Excel and a
dict header -> the cell as a string the way it is shown (dates ISO, integers without ``.0``).

Whatever is wrong with the file (not a spreadsheet, truncated, empty, no header, duplicate
headers, ragged rows, undecodable text) raises :class:`ImportFileError` with a specific,
translatable message, and never any other exception type: the upload screen and the job show
that message and change nothing. Structural errors found deep in a file (a ragged row 80,000)
are raised from the chunk iterator, so callers must treat an ``ImportFileError`` raised at any
point as the rejection of the whole file.

Files are untrusted. A workbook is checked before it is parsed (``xlsx_checks``: declared cells,
zip members, unpacked sizes, shared strings) and then parsed in a child process under a memory
and a CPU limit (``sandbox``), so a hostile workbook fails its own batch with a message and never
takes down the web, job or CLI process. A CSV stays in this process (it is read by Python's own
``csv`` module, line by line, in bounded memory) with limits on line length and columns. The
limits are the ``CRM_IMPORT_MAX_*`` and ``CRM_IMPORT_PARSE_*`` settings.
"""
from __future__ import annotations

import codecs
import functools
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from flask_babel import lazy_gettext as _l

from backoffice.imports.workbook_child import render_cell  # noqa: F401 - part of this API

# Rows a chunk holds: each chunk is one lookup, one COPY and (skip-bad) one checkpoint. 10,000
# measured 13 % faster than 5,000 and than 20,000 on 100,000 customers (PostgreSQL, 2 cores):
# fewer round trips, while the reader thread still works a chunk ahead.
DEFAULT_CHUNK_SIZE = 10_000
DELIMITERS = (",", ";", "\t")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, and password-protected .xlsx
_VALIDATE_BLOCK = 1 << 20
_CSV_FIELD_LIMIT = 1 << 20  # a cell over 1 MiB is not customer data


class ImportFileError(Exception):
    """The file cannot be imported; ``message`` (lazy, translatable) says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


class RawRow(NamedTuple):
    """A data row: its spreadsheet row number and header -> cell text."""

    number: int
    values: dict[str, str]


@dataclass
class SpreadsheetTable:
    """An opened file: what was detected, the headers, and :meth:`chunks` to stream the rows."""

    format: str  # "csv" or "xlsx"
    headers: list[str]
    header_row: int
    encoding: str | None = None  # "utf-8", "utf-8-sig" or "gb18030" for CSV
    delimiter: str | None = None
    sheet: str | None = None
    _rows: Iterator = field(default=None, repr=False)  # (row number, list of cell strings)
    _columns: list[int] = field(default_factory=list, repr=False)  # indexes that have a header
    _consumed: bool = field(default=False, repr=False)

    def chunks(self, size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[RawRow]]:
        """Lists of at most ``size`` rows; blank rows are skipped, their numbers kept. Once."""
        if self._consumed:
            raise ImportFileError(_l("The file was already read."))
        self._consumed = True
        size = max(1, int(size))
        width = len(self._columns) and max(self._columns) + 1
        header_positions = set(self._columns)
        # Every column has a header (the usual file): a row of exactly that width needs no
        # per-cell checks and maps by zip.
        every_column_named = self._columns == list(range(width))
        headers = self.headers
        chunk: list[RawRow] = []
        for number, cells in _guarded(self._rows):
            if every_column_named and len(cells) == width:
                if "".join(cells).strip():
                    chunk.append(RawRow(number, dict(zip(headers, cells))))
                    if len(chunk) >= size:
                        yield chunk
                        chunk = []
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > width:
                extra = cells[width:]
                if self.format == "csv" and any(c.strip() for c in extra):
                    raise ImportFileError(_l(
                        "Row %(row)s has %(found)s cells but the header has %(expected)s.",
                        row=number, found=len(cells), expected=width))
            elif len(cells) < width and self.format == "csv":
                raise ImportFileError(_l(
                    "Row %(row)s has %(found)s cells but the header has %(expected)s.",
                    row=number, found=len(cells), expected=width))
            for index, cell in enumerate(cells):
                if cell.strip() and index not in header_positions:
                    raise ImportFileError(_l(
                        "Row %(row)s has a value in column %(column)s, which has no header.",
                        row=number, column=_column_letter(index)))
            values = {self.headers[i]: (cells[c] if c < len(cells) else "")
                      for i, c in enumerate(self._columns)}
            chunk.append(RawRow(number, values))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of the uploaded bytes: identifies a re-upload of the same file."""
    return hashlib.sha256(data).hexdigest()


def detect_format(data: bytes, filename: str = "") -> str:
    """"xlsx" for a workbook (by content, whatever the name says), else "csv"."""
    if not data:
        raise ImportFileError(_l("The file is empty."))
    if data[:4] == _ZIP_MAGIC or data[:8] == _OLE_MAGIC:
        return "xlsx"
    if filename.lower().rsplit(".", 1)[-1] in ("xlsx", "xlsm", "xls"):
        raise ImportFileError(_l("The file is named like an Excel workbook but is not one."))
    return "csv"


def open_table(data: bytes, filename: str = "", sheet: str | int | None = None) -> SpreadsheetTable:
    """Open ``data``: detect the format, the encoding or sheet, and read the header row."""
    try:
        kind = detect_format(data, filename)
        if kind == "xlsx":
            return _open_xlsx(data, sheet)
        return _open_csv(data)
    except ImportFileError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # noqa: BLE001 - includes pyo3's PanicException from calamine
        raise ImportFileError(_l("The file could not be read as a spreadsheet."))


def read_chunks(data: bytes, filename: str = "", sheet: str | int | None = None,
                size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[RawRow]]:
    """Shortcut: ``open_table(...).chunks(size)``."""
    return open_table(data, filename, sheet).chunks(size)


def list_sheets(data: bytes) -> list[str]:
    """The sheet names of a workbook, in order (for the sheet choice)."""
    from backoffice.imports import sandbox

    _check_workbook(data)
    return sandbox.sheet_names(data, parse_limits())


def setting(name: str):
    """A ``CRM_IMPORT_*`` limit: the app's value, else the default declared in the settings
    (the reader is also used without an app, by tests and benchmarks)."""
    from flask import current_app, has_app_context

    from config.settings import BaseConfig

    default = getattr(BaseConfig, name)
    if has_app_context():
        return int(current_app.config.get(name, default))
    return int(default)


def parse_limits():
    from backoffice.imports.sandbox import ParseLimits

    return ParseLimits(memory_mb=setting("CRM_IMPORT_PARSE_MEMORY_MB"),
                       seconds=setting("CRM_IMPORT_PARSE_SECONDS"),
                       max_columns=setting("CRM_IMPORT_MAX_COLUMNS"))


def _check_workbook(data: bytes) -> None:
    from backoffice.imports import xlsx_checks

    if not data:
        raise ImportFileError(_l("The file is empty."))
    if data[:4] != _ZIP_MAGIC and data[:8] != _OLE_MAGIC:
        raise ImportFileError(_l("The file is not an Excel workbook."))
    xlsx_checks.check_workbook(data, xlsx_checks.XlsxLimits(
        max_members=setting("CRM_IMPORT_MAX_ZIP_MEMBERS"),
        max_member_mb=setting("CRM_IMPORT_MAX_MEMBER_MB"),
        max_unzipped_mb=setting("CRM_IMPORT_MAX_UNZIPPED_MB"),
        max_ratio=setting("CRM_IMPORT_MAX_ZIP_RATIO"),
        max_shared_strings_mb=setting("CRM_IMPORT_MAX_SHARED_STRINGS_MB"),
        max_cells=setting("CRM_IMPORT_MAX_CELLS"),
        max_columns=setting("CRM_IMPORT_MAX_COLUMNS")))


# --- CSV -----------------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """"utf-8-sig" when there is a BOM, "utf-8" when the bytes are strict UTF-8, else "gb18030"
    when they decode as GB18030 (a superset of GBK); otherwise :class:`ImportFileError`."""
    if b"\x00" in data:
        raise ImportFileError(_l("The file is not a CSV text file (it contains binary data)."))
    for encoding in ("utf-8-sig", "gb18030"):
        if _decodes(data, encoding):
            if encoding == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
                return "utf-8"
            return encoding
    raise ImportFileError(
        _l("The file's text encoding is not UTF-8 or GBK/GB18030; save it as CSV UTF-8."))


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether all of ``data`` decodes strictly, checked block by block (no full text copy)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _VALIDATE_BLOCK):
            decoder.decode(view[start:start + _VALIDATE_BLOCK], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_delimiter(sample: str) -> str:
    """Comma, semicolon or tab: whichever splits the first lines into the most equal columns."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if len(sample) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for c in counts if c == counts[0]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _open_csv(data: bytes) -> SpreadsheetTable:
    encoding = detect_encoding(data)
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="strict", newline="")
    sample = text.read(65536)
    text.seek(0)
    delimiter = sniff_delimiter(sample)
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    lines = _bounded_lines(text, setting("CRM_IMPORT_MAX_LINE_CHARS"))
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    rows = ((number, record) for number, record in enumerate(reader, start=1))
    return _with_header(rows, "csv", encoding=encoding, delimiter=delimiter)


def _bounded_lines(text, limit: int) -> Iterator[str]:
    """The file's lines for the CSV reader, none longer than ``limit`` characters (line break
    included): a line is read at most ``limit + 1`` characters at a time, so a file that is
    one endless line never becomes one endless string."""
    for number, line in enumerate(iter(functools.partial(text.readline, limit + 1), ""),
                                  start=1):
        if len(line) > limit:
            raise ImportFileError(_l(
                "Line %(line)s of the file is longer than %(limit)s characters; this is not a "
                "data file.", line=f"{number:,}", limit=f"{limit:,}"))
        yield line


# --- XLSX ----------------------------------------------------------------------------------------


def _open_xlsx(data: bytes, sheet: str | int | None) -> SpreadsheetTable:
    from backoffice.imports import sandbox

    _check_workbook(data)
    name, first_col, cells = sandbox.open_rows(data, sheet, parse_limits())
    pad = [""] * first_col

    def rows():
        if not pad:  # the usual sheet, used from column A
            yield from enumerate(cells, start=1)
            return
        for number, record in enumerate(cells, start=1):
            yield number, pad + record

    return _with_header(rows(), "xlsx", sheet=name)


# --- shared ------------------------------------------------------------------------------------


def _guarded(rows: Iterator) -> Iterator:
    """Turn anything the underlying reader raises while streaming into :class:`ImportFileError`."""
    iterator = iter(rows)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except ImportFileError:
            raise
        except UnicodeDecodeError:
            raise ImportFileError(
                _l("The file's text encoding is not UTF-8 or GBK/GB18030; save it as CSV UTF-8."))
        except csv.Error as exc:
            if "field larger" in str(exc):
                raise ImportFileError(_l("A cell is larger than 1 MiB; this is not a data file."))
            raise ImportFileError(_l("The file is not valid CSV (check quotes and separators)."))
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:  # noqa: BLE001
            raise ImportFileError(_l("The file could not be read as a spreadsheet."))
        yield item


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _with_header(rows: Iterator, kind: str, **detected) -> SpreadsheetTable:
    """Take the first non-blank row as the header; check it; return the table over the rest."""
    rows = _guarded(rows)
    for number, cells in rows:
        if any(c.strip() for c in cells):
            break
    else:
        raise ImportFileError(_l("The file has no header row."))
    limit = setting("CRM_IMPORT_MAX_COLUMNS")
    used = len(cells)
    while used and not cells[used - 1].strip():
        used -= 1
    if used > limit:
        raise ImportFileError(_l(
            "The header row has %(count)s columns; the limit is %(limit)s.",
            count=f"{used:,}", limit=f"{limit:,}"))
    cells = [c.strip() for c in cells]
    if cells and cells[0].startswith("\ufeff"):  # a BOM inside the first cell (double-encoded)
        cells[0] = cells[0].lstrip("\ufeff").strip()
    columns = [i for i, c in enumerate(cells) if c]
    headers = [cells[i] for i in columns]
    seen: dict[str, int] = {}
    for index, header in zip(columns, headers):
        key = header.casefold()
        if key in seen:
            raise ImportFileError(_l(
                "The header %(header)s appears twice (columns %(first)s and %(second)s).",
                header=header, first=_column_letter(seen[key]), second=_column_letter(index)))
        seen[key] = index
    return SpreadsheetTable(format=kind, headers=headers, header_row=number, _rows=rows,
                            _columns=columns, **detected)
