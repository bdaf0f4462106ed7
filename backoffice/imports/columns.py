"""Column-at-a-time helpers for validating a chunk: the same answers as the per-cell parsers,
at a fraction of their cost on 100,000-row files.

Why: a chunk's cells were parsed one call chain per cell (rule -> lambda -> never-raises
wrapper -> parser), and identical cells (a branch code, a date, an occupation, a yes/no flag
repeated down a column) were parsed again and again. Here a column is parsed once per distinct
value when it repeats, the commonest parsers (trimmed text, compacted identifiers) have a tight
loop form, and the PRC ID check digits of a whole chunk are computed by one numpy product.
Every function returns, cell for cell, exactly what :mod:`.cells` and :mod:`.rows` return
(tests/imports/test_columns.py compares them on every fault kind).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from flask_babel import lazy_gettext as _l

from backoffice.imports import cells
from models.validators import _ID_CHECK, _ID_RE, _ID_WEIGHTS, prc_id_birth_date

EMPTY = (None, None)
UNREADABLE = _l("The value could not be read.")
_WHITESPACE = re.compile(r"\s+")
_WEIGHTS = np.array(_ID_WEIGHTS, dtype=np.int64)


def safe(parse: Callable, text) -> tuple[Any, Any]:
    """``parse(text)``, a parser bug costing one cell (as ``rows._validate`` does)."""
    try:
        return parse(text)
    except Exception:  # noqa: BLE001 - a parser must never stop a batch
        return None, UNREADABLE


def parse_column(parse: Callable, texts: Sequence, column: Callable | None = None) -> list:
    """``[(value, problem)]`` for ``texts``: through ``column`` (a tight-loop form of
    ``parse``) when given, else ``parse`` once per distinct text when the column repeats
    itself (at least every other cell a repeat), else cell by cell."""
    if column is not None:
        try:
            return column(texts)
        except Exception:  # noqa: BLE001 - the per-cell parser below answers instead
            column = None
    try:
        distinct = set(texts)
    except TypeError:  # an unhashable cell: no memo
        distinct = None
    if distinct is not None and 2 * len(distinct) <= len(texts):
        memo = {text: safe(parse, text) for text in distinct}
        return [memo[text] for text in texts]
    return [safe(parse, text) for text in texts]


def text_column(max_length: int | None, multiline: bool = False) -> Callable:
    """Column form of ``cells.parse_text(raw, max_length, multiline)``."""
    too_long = (None, _l("Longer than %(max)s characters.", max=max_length)) \
        if max_length is not None else None

    def column(texts):
        out = []
        append = out.append
        for raw in texts:
            if type(raw) is not str:
                append(safe(lambda r: cells.parse_text(r, max_length, multiline), raw))
                continue
            text = raw.strip()
            if not text:
                append(EMPTY)
            elif max_length is not None and len(text) > max_length:
                append((None, too_long[1]))
            elif not text.isprintable():  # rare: the full check names the character
                append(safe(lambda r: cells.parse_text(r, max_length, multiline), raw))
            else:
                append((text, None))
        return out

    return column


def compact_column(texts):
    """Column form of ``rows._compact``: half-width, every space removed."""
    out = []
    append = out.append
    fold = cells.fold
    for raw in texts:
        if type(raw) is not str or not raw.isprintable():  # tabs, controls, NBSP...
            append(safe(cells.parse_identifier, raw))
            continue
        text = raw.strip() if raw.isascii() else fold(raw)
        if not text.isalnum():
            text = _WHITESPACE.sub("", text)
        append((text or None, None))
    return out


def customer_no_column(texts):
    """Column form of ``rows._customer_no``: the usual number is short printable ASCII."""
    from backoffice.imports.rows import _customer_no

    out = []
    append = out.append
    for raw in texts:
        if type(raw) is str and raw.isascii() and raw.isprintable():
            text = raw.strip()
            if not text:
                append(EMPTY)
                continue
            if len(text) <= 20 and " " not in text:
                append((text, None))
                continue
        append(safe(_customer_no, raw))
    return out


def ref_column(max_length: int) -> Callable:
    """Column form of ``rows._ref``: ``parse_text(fold(raw), max_length)``."""
    text = text_column(max_length)
    fold = cells.fold

    def column(texts):
        return text([raw.strip() if type(raw) is str and raw.isascii() else fold(raw)
                     for raw in texts])

    return column


class PrcIds:
    """The check-digit verdicts of a chunk's PRC ID numbers, computed in one numpy product.

    ``check_digit_ok(number)`` answers for the numbers given to the constructor that match the
    18-character form; the birth dates are decoded once per distinct date.
    """

    def __init__(self, numbers: Sequence[str]):
        candidates = [n for n in dict.fromkeys(numbers)
                      if len(n) == 18 and n.isascii() and _ID_RE.match(n)]
        self._ok: dict[str, bool] = {}
        if candidates:
            digits = np.frombuffer("".join(n[:17] for n in candidates).encode("ascii"),
                                   dtype=np.uint8).reshape(-1, 17).astype(np.int64) - 48
            totals = (digits @ _WEIGHTS) % 11
            for number, total in zip(candidates, totals.tolist()):
                self._ok[number] = _ID_CHECK[total] == number[17]
        self._births: dict[str, dt.date | None] = {}

    def birth_date(self, number: str) -> dt.date | None:
        key = number[6:14]
        try:
            return self._births[key]
        except KeyError:
            born = self._births[key] = prc_id_birth_date(number)
            return born

    def check(self, number: str, birth_date: dt.date | None, today: dt.date):
        """``models.validators.check_prc_id`` for a normalised number (same messages, same
        order of checks)."""
        ok = self._ok.get(number)
        if ok is None and not _ID_RE.match(number):
            return _l("ID number must be 17 digits followed by a digit or X (18 characters).")
        born = self.birth_date(number)
        if born is None or born > today or born.year < 1900:
            return _l("ID number does not contain a real birth date.")
        if ok is None:  # not seen at construction: the plain way
            from models.validators import prc_id_check_digit

            ok = prc_id_check_digit(number[:17]) == number[17]
        if not ok:
            return _l("ID number check digit is wrong.")
        if birth_date is not None and born != birth_date:
            return _l("ID number birth date does not match the birth date given.")
        return None
