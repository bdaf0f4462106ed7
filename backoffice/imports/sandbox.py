"""Parsing an untrusted workbook in a child process with a memory and a CPU-time limit.

The cheap checks of :mod:`backoffice.imports.xlsx_checks` refuse the hostile files we know of
(declared dimensions, zip bombs, huge shared strings) before anything parses them; this is the
backstop for the ones they miss. The child (:mod:`backoffice.imports.workbook_child`) runs with
``RLIMIT_AS`` and ``RLIMIT_CPU`` set, so an allocation a file provokes fails in the child, and a
child that ends without saying "end" becomes an :class:`ImportFileError` naming the limit: the
web, RQ or CLI process that asked only loses that file.

The child is a plain ``subprocess`` of the same interpreter run isolated (``-I``), not a
``multiprocessing`` child: it imports nothing of the project (fast to start, and nothing of
the app's state, connections or secrets crosses into the process that touches the file), and
it works the same under gunicorn, an RQ work horse and the CLI. The bytes go in on stdin (from a
thread, so a large file never deadlocks against the rows coming back); the rows come back in
frames of a few thousand as JSON, which the parent parses without trusting the child.
"""
from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l

from backoffice.imports.reading import ImportFileError

CHILD = Path(__file__).with_name("workbook_child.py")
MAX_FRAME_BYTES = 256 * 1024 * 1024  # a frame of 2,000 rows; more is not a reply of the child


@dataclass(frozen=True)
class ParseLimits:
    """``CRM_IMPORT_PARSE_MEMORY_MB``, ``CRM_IMPORT_PARSE_SECONDS`` and
    ``CRM_IMPORT_MAX_COLUMNS`` for one parse."""

    memory_mb: int
    seconds: int
    max_columns: int


class ChildParse:
    """One run of the child: :meth:`message` frames in order; always :meth:`close` it."""

    def __init__(self, data: bytes, mode: str, sheet, limits: ParseLimits):
        self.limits, self.sheet = limits, sheet
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), mode, json.dumps(sheet),
             str(int(limits.memory_mb)), str(int(limits.seconds)), str(int(limits.max_columns))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True)
        self._feeder = threading.Thread(target=self._feed, args=(data,), daemon=True,
                                        name="workbook-feeder")
        self._feeder.start()
        self._fd = self.process.stdout.fileno()
        self._buffer = bytearray()
        self._closed = False

    def _feed(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child ended (or was ended) before it read everything
        finally:
            try:
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass

    def _read(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes, None at end of output; waits at most the time limit."""
        while len(self._buffer) < size:
            ready, _, _ = select.select([self._fd], [], [], self.limits.seconds)
            if not ready:
                self.close()
                raise ImportFileError(_l(
                    "The file could not be read within the time limit of %(limit)s seconds.",
                    limit=self.limits.seconds))
            block = os.read(self._fd, max(1 << 16, size - len(self._buffer)))
            if not block:
                return None
            self._buffer += block
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def message(self) -> dict:
        """The child's next frame; its death or a malformed frame as :class:`ImportFileError`."""
        head = self._read(4)
        if head is None:
            raise self._died()
        (length,) = struct.unpack(">I", head)
        payload = self._read(length) if length <= MAX_FRAME_BYTES else None
        if payload is None:
            raise self._died()
        try:
            message = json.loads(payload)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.close()
            raise ImportFileError(_l("The file could not be read as a spreadsheet."))
        if "error" in message:
            self.close()
            raise child_error(message["error"], self.limits, self.sheet, message)
        return message

    def _died(self) -> ImportFileError:
        self.close()
        status = self.process.returncode
        if status in (-signal.SIGXCPU, -signal.SIGKILL):
            return ImportFileError(_l(
                "The file could not be read within the time limit of %(limit)s seconds.",
                limit=self.limits.seconds))
        # Under RLIMIT_AS a failed allocation is how a parse dies: Rust aborts (SIGABRT),
        # Python raises MemoryError, a segfault is a stack that could not grow.
        return ImportFileError(_l(
            "The file could not be read within the memory limit of %(limit)s MB.",
            limit=self.limits.memory_mb))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.wait()
        self.process.stdout.close()
        self._feeder.join(timeout=5)


def child_error(code, limits: ParseLimits, sheet=None, message=None) -> ImportFileError:
    """The message for an ``{"error": code}`` frame of the child."""
    if code == "columns":
        found = (message or {}).get("columns")
        return ImportFileError(_l(
            "The sheet has %(columns)s columns; the limit is %(limit)s.",
            columns=f"{found:,}" if isinstance(found, int) else "?",
            limit=f"{limits.max_columns:,}"))
    if code == "password":
        return ImportFileError(_l("The Excel workbook is password protected."))
    if code == "no_sheet":
        return ImportFileError(_l("The workbook has no sheet %(sheet)s.", sheet=sheet))
    if code == "no_sheets":
        return ImportFileError(_l("The Excel workbook has no sheets."))
    if code == "memory":
        return ImportFileError(_l(
            "The file could not be read within the memory limit of %(limit)s MB.",
            limit=limits.memory_mb))
    return ImportFileError(_l("The Excel workbook is damaged or incomplete."))


def sheet_names(data: bytes, limits: ParseLimits) -> list[str]:
    child = ChildParse(data, "sheets", None, limits)
    try:
        names = child.message().get("sheets")
    finally:
        child.close()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ImportFileError(_l("The file could not be read as a spreadsheet."))
    return names


def open_rows(data: bytes, sheet, limits: ParseLimits) -> tuple[str, int, Iterator]:
    """``(sheet name, first used column, rows)``: the rows are lists of cell text from row 1,
    streamed from the child as they come; the child is ended when the iterator is."""
    child = ChildParse(data, "rows", sheet, limits)
    try:
        head = child.message()
    except BaseException:
        child.close()
        raise
    name, first_col = head.get("sheet"), head.get("first_col")
    if not isinstance(name, str) or not isinstance(first_col, int) or first_col < 0:
        child.close()
        raise ImportFileError(_l("The file could not be read as a spreadsheet."))
    return name, first_col, _rows(child)


def _rows(child: ChildParse) -> Iterator[list[str]]:
    try:
        while True:
            message = child.message()
            if message.get("end"):
                return
            rows = message.get("rows")
            if not isinstance(rows, list):
                raise ImportFileError(_l("The file could not be read as a spreadsheet."))
            yield from rows
    finally:
        child.close()
