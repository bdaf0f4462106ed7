"""Cheap checks of a workbook's zip before anything parses it: refuse what would blow up.

A 1.7 KB XLSX that declares one cell at A1 and one at XFD1048576 makes calamine reserve
1,048,576 × 16,384 cells; a few megabytes of zip can unpack to gigabytes (a decompression bomb);
one shared string can be a gigabyte. Each is visible without parsing: the zip's end record says
how many members there are, its directory says each member's unpacked size and compressed size,
and a worksheet states its ``<dimension ref="A1:XFD1048576"/>`` in its first bytes (read by
streaming a small prefix, never the whole part). The limits are settings
(``CRM_IMPORT_MAX_*``, see :class:`XlsxLimits`); the message names the figures so that the person
who uploaded the file knows what to change.

Declared figures can lie (a sheet that declares A1 and holds XFD1048576): the child process of
:mod:`backoffice.imports.sandbox` with its memory limit is the backstop for those.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from backoffice.imports.reading import ImportFileError

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
PREFIX_BYTES = 64 * 1024  # a worksheet states its dimension before its first row
RATIO_FLOOR_BYTES = 1 << 20  # small parts compress well legitimately; the ratio counts above
MB = 1024 * 1024
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)")
_REF = re.compile(r"^\$?([A-Z]{1,3})?\$?(\d+)?(?::\$?([A-Z]{1,3})?\$?(\d+)?)?$")
MAX_ROWS, MAX_COLUMNS = 1_048_576, 16_384  # Excel's grid


@dataclass(frozen=True)
class XlsxLimits:
    max_members: int
    max_member_mb: int
    max_unzipped_mb: int
    max_ratio: int
    max_shared_strings_mb: int
    max_cells: int
    max_columns: int


def check_workbook(data: bytes, limits: XlsxLimits) -> None:
    """Raise :class:`ImportFileError` when the workbook's zip or a sheet's declared size is
    beyond ``limits``. A legacy ``.xls`` (not a zip) has nothing to check here."""
    if data[:4] != b"PK\x03\x04":
        return
    members = member_count(data)
    if members is None:
        raise ImportFileError(_l("The Excel workbook is damaged or incomplete."))
    if members > limits.max_members:
        raise ImportFileError(_l(
            "The workbook holds %(count)s parts; the limit is %(limit)s.",
            count=f"{members:,}", limit=f"{limits.max_members:,}"))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception:  # noqa: BLE001 - BadZipFile, ValueError, struct.error...
        raise ImportFileError(_l("The Excel workbook is damaged or incomplete.")) from None
    _check_sizes(infos, limits)
    for info in infos:
        if info.filename.lower().endswith(".xml") and not _is_shared_strings(info):
            _check_dimension(archive, info, limits)


def member_count(data: bytes) -> int | None:
    """The entries the zip's end record declares (zip64 too), read without building the
    directory: a hostile directory of millions of entries would be millions of objects."""
    tail_start = max(0, len(data) - (0xFFFF + 22))
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or len(data) < at + 22:
        return None
    (count,) = struct.unpack("<H", data[at + 10:at + 12])
    locator = at - 20
    if locator >= 0 and data[locator:locator + 4] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack("<Q", data[locator + 8:locator + 16])
        if data[offset:offset + 4] == _ZIP64_EOCD and len(data) >= offset + 40:
            (count,) = struct.unpack("<Q", data[offset + 32:offset + 40])
    return count


def _is_shared_strings(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().rsplit("/", 1)[-1] == "sharedstrings.xml"


def _check_sizes(infos, limits: XlsxLimits) -> None:
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if _is_shared_strings(info) and size > limits.max_shared_strings_mb * MB:
            raise ImportFileError(_l(
                "The workbook's shared strings unpack to %(size)s MB; the limit is %(limit)s MB.",
                size=_mb(size), limit=f"{limits.max_shared_strings_mb:,}"))
        if size > limits.max_member_mb * MB:
            raise ImportFileError(_l(
                "The workbook part %(name)s unpacks to %(size)s MB; the limit is %(limit)s MB.",
                name=info.filename[:100], size=_mb(size), limit=f"{limits.max_member_mb:,}"))
        ratio = size / max(1, info.compress_size)
        if size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise ImportFileError(_l(
                "The workbook part %(name)s unpacks %(ratio)s times larger than it is stored; "
                "the limit is %(limit)s times (a decompression bomb).",
                name=info.filename[:100], ratio=f"{int(ratio):,}", limit=f"{limits.max_ratio:,}"))
    if total > limits.max_unzipped_mb * MB:
        raise ImportFileError(_l(
            "The workbook unpacks to %(size)s MB in all; the limit is %(limit)s MB.",
            size=_mb(total), limit=f"{limits.max_unzipped_mb:,}"))


def _check_dimension(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: XlsxLimits):
    try:
        with archive.open(info) as part:
            prefix = part.read(PREFIX_BYTES)
    except Exception:  # noqa: BLE001 - zlib.error, BadZipFile, NotImplementedError...
        # a corrupt, encrypted or unsupported part: calamine says what it is, in the child
        return
    found = _DIMENSION.search(prefix)
    if found is None:
        return
    span = declared_span(found.group(1).decode("ascii", "replace"))
    if span is None:
        return
    rows, columns = span
    sheet = info.filename.rsplit("/", 1)[-1][:100]
    if rows * columns > limits.max_cells:
        raise ImportFileError(_l(
            "The file declares %(rows)s × %(columns)s cells (sheet %(sheet)s); the limit is "
            "%(limit)s cells.", rows=f"{rows:,}", columns=f"{columns:,}", sheet=sheet,
            limit=f"{limits.max_cells:,}"))
    if columns > limits.max_columns:
        raise ImportFileError(_l(
            "The sheet %(sheet)s declares %(columns)s columns; the limit is %(limit)s.",
            sheet=sheet, columns=f"{columns:,}", limit=f"{limits.max_columns:,}"))


def declared_span(ref: str) -> tuple[int, int] | None:
    """``(rows, columns)`` a dimension reference spans (``A1:XFD1048576`` -> 1048576, 16384);
    a missing row or column means the whole grid. None when the reference is not one."""
    match = _REF.match(ref.strip().upper())
    if match is None or not any(match.groups()):
        return None
    col1, row1, col2, row2 = match.groups()
    if match.group(0).count(":") == 0:
        col2, row2 = col1, row1
    first_col = column_number(col1) if col1 else 1
    last_col = column_number(col2) if col2 else MAX_COLUMNS
    first_row = int(row1) if row1 else 1
    last_row = int(row2) if row2 else MAX_ROWS
    return abs(last_row - first_row) + 1, abs(last_col - first_col) + 1


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _mb(size: int) -> str:
    return f"{size / MB:,.1f}"
