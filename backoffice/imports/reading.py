"""Reading an uploaded spreadsheet as a stream of row chunks, in bounded memory.

A file is CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, which is what Chinese Excel writes, or UTF-16,
which is Excel's "Unicode text"; comma, semicolon or tab separated) or an Excel workbook (through
python-calamine, with a sheet choice). A Big5 (Traditional Chinese) file is refused by name: its
bytes usually decode as GBK too, into garbled names.

The header row is the first of the first :data:`HEADER_SCAN_ROWS` rows in which enough cells
are known headers (:func:`backoffice.imports.mapping.known_label`): the title row and blank rows
branches put above it are skipped. Without such a row the first non-blank row is the header (a
file of custom-field columns only). A workbook opened without a sheet name uses the first sheet
that has such a header row (a first sheet of notes is passed over), and says which it took.
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
    encoding: str | None = None  # "utf-8", "utf-8-sig", "gb18030" or "utf-16(-le/-be)" for CSV
    delimiter: str | None = None
    sheet: str | None = None
    _rows: Iterator = field(default=None, repr=False)  # (row number, list of cell strings)
    _columns: list[int] = field(default_factory=list, repr=False)  # indexes that have a header
    _consumed: bool = field(default=False, repr=False)

    def chunks(self, size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[RawRow]]:
        """Lists of at most ``size`` rows; blank rows are skipped, their numbers kept. Once."""
        width, every_column_named = self._start()
        size = max(1, int(size))
        headers = self.headers
        make = tuple.__new__  # RawRow(number, values) without its Python-level __new__
        chunk: list[RawRow] = []
        for number, cells in _guarded(self._rows):
            if every_column_named and len(cells) == width:
                if not "".join(cells).strip():
                    continue
                values = dict(zip(headers, cells))
            else:
                values = self._irregular(number, cells, width)
                if values is None:
                    continue
            chunk.append(make(RawRow, (number, values)))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def count_rows(self) -> int:
        """How many rows :meth:`chunks` would give, after the same checks of the file's
        structure (ragged rows, values in columns without a header, undecodable text, the
        limits), without building the rows: what a pass that must not stop half-way because
        of the file reads first. Once, like :meth:`chunks`."""
        width, every_column_named = self._start()
        count = 0
        for number, cells in _guarded(self._rows):
            if every_column_named and len(cells) == width:
                if "".join(cells).strip():
                    count += 1
            elif self._irregular(number, cells, width) is not None:
                count += 1
        return count

    def _start(self) -> tuple[int, bool]:
        """Mark the rows as read; ``(width, every column named)``. Every column has a header in
        the usual file: a row of exactly that width then needs no per-cell checks and maps by
        zip."""
        if self._consumed:
            raise ImportFileError(_l("The file was already read."))
        self._consumed = True
        width = len(self._columns) and max(self._columns) + 1
        return width, self._columns == list(range(width))

    def _irregular(self, number: int, cells: list[str], width: int) -> dict | None:
        """A row that is not exactly as wide as the named header: its values (None when it is
        blank), or :class:`ImportFileError` when it has cells no header names."""
        if not any(c.strip() for c in cells):
            return None
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
        header_positions = set(self._columns)
        for index, cell in enumerate(cells):
            if cell.strip() and index not in header_positions:
                raise ImportFileError(_l(
                    "Row %(row)s has a value in column %(column)s, which has no header.",
                    row=number, column=_column_letter(index)))
        return {self.headers[i]: (cells[c] if c < len(cells) else "")
                for i, c in enumerate(self._columns)}


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


BIG5 = _l("The file seems to be Big5 (Traditional Chinese); save it as UTF-8 (CSV UTF-8) and "
          "upload it again.")
_SAMPLE_BYTES = 1 << 18


def detect_encoding(data: bytes) -> str:
    """"utf-16" with a UTF-16 byte-order mark (Excel's "Unicode text"), "utf-16-le"/"-be" for
    text that is plainly UTF-16 without one, "utf-8-sig" with a UTF-8 BOM, "utf-8" for strict
    UTF-8, else "gb18030" (a superset of GBK) unless the bytes read as Big5; otherwise
    :class:`ImportFileError`."""
    utf16 = _utf16(data)
    if utf16 is not None:
        if _decodes(data, utf16):
            return utf16
        raise ImportFileError(_l("The file looks like UTF-16 text but is damaged; save it as "
                                 "CSV UTF-8."))
    if b"\x00" in data:
        raise ImportFileError(_l("The file is not a CSV text file (it contains binary data)."))
    if _decodes(data, "utf-8-sig"):
        return "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    gbk = _decodes(data, "gb18030")
    if _decodes(data, "cp950") and (not gbk or looks_big5(data[:_SAMPLE_BYTES])):
        raise ImportFileError(BIG5)
    if gbk:
        return "gb18030"
    raise ImportFileError(
        _l("The file's text encoding is not UTF-8 or GBK/GB18030; save it as CSV UTF-8."))


def _utf16(data: bytes) -> str | None:
    """The UTF-16 codec ``data`` is in, or None: by its byte-order mark, else by the zero bytes
    that ASCII characters leave in every other position (separators and digits are ASCII)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd * 10 >= half * 3 and even == 0:
        return "utf-16-le"
    if even * 10 >= half * 3 and odd == 0:
        return "utf-16-be"
    return None


def _common_share(text: str, codec: str, common) -> float:
    """The share of the non-ASCII characters of ``text`` that are common ones in ``codec``."""
    found = hits = 0
    for char in text:
        if char < "\x80":
            continue
        found += 1
        try:
            encoded = char.encode(codec)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 2 and common(encoded[0], encoded[1]):
            hits += 1
    return hits / found if found else 1.0


def _gb2312_common(lead: int, trail: int) -> bool:
    # GB2312's hanzi (0xB0-0xF7) and its full-width punctuation and forms (0xA1, 0xA3).
    return 0xB0 <= lead <= 0xF7 or lead in (0xA1, 0xA3)


def _big5_common(lead: int, trail: int) -> bool:
    # Big5's frequently used hanzi (0xA440-0xC67E) and its punctuation (0xA1, 0xA2).
    return 0xA440 <= (lead << 8 | trail) <= 0xC67E or lead in (0xA1, 0xA2)


def looks_big5(sample: bytes) -> bool:
    """Whether text that decodes both ways is Big5 rather than GBK.

    Read as GBK, Big5 text becomes kana, Greek, box drawing and rare GBK-extension characters
    (its common hanzi sit where GB2312 keeps symbols, and half its second bytes are below 0x80,
    outside GB2312); real GBK names are almost all GB2312 hanzi. Read as Big5, Big5 text is
    almost all frequently used hanzi."""
    as_gbk = sample.decode("gb18030", "ignore")
    as_big5 = sample.decode("cp950", "ignore")
    return (_common_share(as_big5, "cp950", _big5_common) >= 0.9
            and _common_share(as_gbk, "gb2312", _gb2312_common) < 0.8)


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
    """The named sheet; without a name, the first sheet with a recognised header row (a
    workbook whose first sheet is a note), else the first sheet. Sheets are tried one child
    parse at a time, in order, and the one taken goes on streaming from its own parse."""
    _check_workbook(data)
    if sheet not in (None, ""):
        return _with_header(*_sheet_rows(data, sheet))
    table = _with_header(*_sheet_rows(data, None), recognised_only=True)
    if table is not None:
        return table
    names = list_sheets(data)
    for name in names[1:]:
        table = _with_header(*_sheet_rows(data, name), recognised_only=True)
        if table is not None:
            return table
    return _with_header(*_sheet_rows(data, None))


def _sheet_rows(data: bytes, sheet) -> tuple:
    """``(rows, "xlsx", {"sheet": name})`` for :func:`_with_header`, rows from row 1 with
    the columns left of the first used one put back."""
    from backoffice.imports import sandbox

    name, first_col, cells = sandbox.open_rows(data, sheet, parse_limits())
    pad = [""] * first_col

    def rows():
        try:
            if not pad:  # the usual sheet, used from column A
                yield from enumerate(cells, start=1)
                return
            for number, record in enumerate(cells, start=1):
                yield number, pad + record
        finally:
            cells.close()  # ends the child when the rows are abandoned

    return rows(), "xlsx", {"sheet": name}


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


def _close(rows) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _find_header(rows: Iterator, recognised_only: bool):
    """``(row number, cells, the rows after it)`` of the header: the first of the first
    :data:`HEADER_SCAN_ROWS` rows whose cells are recognised headers
    (:func:`backoffice.imports.mapping.is_header_row`), else the first with one known header
    (custom columns beside it), else the first non-blank row (None with ``recognised_only``).
    Rows above the header (a title, a note, blank rows) are skipped."""
    import itertools

    from backoffice.imports.mapping import header_matches, is_header_row

    seen: list = []
    for item in rows:
        seen.append(item)
        if len(seen) >= HEADER_SCAN_ROWS:
            break
    filled = [i for i, (_, cells) in enumerate(seen) if any(c.strip() for c in cells)]
    if not filled:
        if recognised_only:
            return None
        raise ImportFileError(_l("The file has no header row."))
    chosen = next((i for i in filled if is_header_row(seen[i][1])), None)
    if chosen is None:  # one known header among custom columns: the first such row
        chosen = next((i for i in filled if header_matches(seen[i][1])[0]), None)
    if chosen is None:
        if recognised_only:
            return None
        chosen = filled[0]
    number, cells = seen[chosen]
    return number, cells, itertools.chain(seen[chosen + 1:], rows)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


HEADER_SCAN_ROWS = 20


def _with_header(rows: Iterator, kind: str, detected: dict | None = None,
                 recognised_only: bool = False, **more) -> SpreadsheetTable | None:
    """Find the header row (:func:`_find_header`); check it; return the table over the rows
    after it. ``recognised_only``: None (the rows closed) when no row has known headers."""
    detected = {**(detected or {}), **more}
    source = rows
    rows = _guarded(rows)
    try:
        found = _find_header(rows, recognised_only)
    except BaseException:
        _close(source)
        raise
    if found is None:
        _close(source)
        return None
    number, cells, rows = found
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
