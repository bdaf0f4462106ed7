"""The process that parses an untrusted workbook: run as a script, stdlib and calamine only.

Why a separate process: python-calamine allocates a sheet's declared dimensions (and whole
shared strings, and whole cells) before Rust hands anything back, and an allocation Rust cannot
make aborts the process (SIGABRT), taking a gunicorn or RQ worker with it. Here the address
space and the CPU time are capped first (``resource.setrlimit``), so the worst a file can do is
end this process; :mod:`backoffice.imports.sandbox` turns that end into a message for the batch.

Run as ``python -I workbook_child.py MODE SHEET MEMORY_MB CPU_SECONDS MAX_COLUMNS`` (isolated: no
environment, no project imports, which keeps the start cheap). The workbook's bytes come on
stdin. Frames go to stdout, each a 4-byte big-endian length and a UTF-8 JSON object:

* mode ``sheets``: ``{"sheets": [names]}``;
* mode ``rows``: ``{"sheet": name, "first_col": n}``, then ``{"rows": [[cell text, ...]]}``
  frames (the rows from row 1, in order), then ``{"end": true}``;
* on a problem found while parsing: ``{"error": code}`` (``password``, ``damaged``,
  ``no_sheets``, ``no_sheet``, ``memory``, ``columns`` with ``"columns": n``) and exit status 3.

JSON and not pickle: the parent must not trust what a process that parsed a hostile file says.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import math
import resource
import struct
import sys
from decimal import Decimal

ROWS_PER_FRAME = 2000
CELLS_PER_FRAME = 200_000  # wide rows come in smaller frames


def render_cell(value) -> str:
    """An XLSX cell as a person sees it: ``45356`` not ``45356.0``, dates ISO, TRUE/FALSE,
    numbers of more digits than Excel keeps in scientific notation."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if value.is_integer():
            # Excel keeps 15 significant digits: a whole number of 16 or more digits (an ID
            # or card number typed into a number cell) has lost its last ones. Shown as Excel
            # shows it (1.10101199001011E+17), so that the row says so instead of carrying
            # made-up trailing zeros as if they were the number.
            return format(value, ".15G")
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds") if value.microsecond == 0 \
            else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def _send(out, message: dict) -> None:
    payload = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    out.write(struct.pack(">I", len(payload)))
    out.write(payload)


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    if memory_mb > 0:
        size = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if cpu_seconds > 0:
        # SIGXCPU at the soft limit ends the process; the hard limit is the SIGKILL backstop.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def _sheet_name(names: list[str], sheet: str | int | None) -> str | None:
    if sheet is None or sheet == "":
        return names[0]
    if isinstance(sheet, int):
        return names[sheet] if 0 <= sheet < len(names) else None
    return sheet if sheet in names else None


def _parse(out, mode: str, sheet, data: bytes, max_columns: int) -> int:
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except MemoryError:
        raise
    except BaseException as exc:  # noqa: BLE001 - CalamineError, ZipError, PanicException...
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _send(out, {"error": "password" if type(exc).__name__ == "PasswordError"
                    else "damaged"})
        return 3
    del data
    names = list(workbook.sheet_names)
    if mode == "sheets":
        _send(out, {"sheets": names})
        return 0
    if not names:
        _send(out, {"error": "no_sheets"})
        return 3
    name = _sheet_name(names, sheet)
    if name is None:
        _send(out, {"error": "no_sheet"})
        return 3
    try:
        worksheet = workbook.get_sheet_by_name(name)
        # calamine's iter_rows starts at row 1 but at the first used column: the parent pads
        # the columns back so that column letters in messages match what the user sees.
        first_col = (worksheet.start or (0, 0))[1]
        width = first_col + int(worksheet.width or 0)
        rows = worksheet.iter_rows()
    except MemoryError:
        raise
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _send(out, {"error": "damaged"})
        return 3
    if width > max_columns:
        _send(out, {"error": "columns", "columns": width})
        return 3
    _send(out, {"sheet": name, "first_col": first_col})
    frame, rows_per_frame = [], max(1, min(ROWS_PER_FRAME, CELLS_PER_FRAME // max(1, width)))
    for record in rows:
        # Text cells are shown as they are: only the others go through render_cell (a call
        # and a few type tests a cell, most of the child's time on a sheet of text).
        frame.append([v if type(v) is str else render_cell(v) for v in record])
        if len(frame) >= rows_per_frame:
            _send(out, {"rows": frame})
            frame = []
    if frame:
        _send(out, {"rows": frame})
    _send(out, {"end": True})
    return 0


def main(argv: list[str]) -> int:
    mode, sheet_json = argv[1], argv[2]
    memory_mb, cpu_seconds, max_columns = int(argv[3]), int(argv[4]), int(argv[5])
    _limit(memory_mb, cpu_seconds)
    out = sys.stdout.buffer
    try:
        data = sys.stdin.buffer.read()
        return _parse(out, mode, json.loads(sheet_json), data, max_columns)
    except MemoryError:
        try:
            _send(out, {"error": "memory"})
        except BaseException:  # noqa: BLE001 - nothing more can be said
            pass
        return 3
    finally:
        try:
            out.flush()
        except BaseException:  # noqa: BLE001 - the parent stopped reading: nothing to tell
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
