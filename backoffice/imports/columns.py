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
from itertools import repeat
from typing import Any

import numpy as np
from flask_babel import lazy_gettext as _l

from backoffice.imports import cells
from models.validators import _ID_CHECK, _ID_RE, _ID_WEIGHTS, prc_id_birth_date

EMPTY = (None, None)
UNREADABLE = _l("The value could not be read.")
BIRTH_MISMATCH = _l("ID number birth date does not match the birth date given.")
_WHITESPACE = re.compile(r"\s+")
_WEIGHTS = np.array(_ID_WEIGHTS, dtype=np.int64)


def safe(parse: Callable, text) -> tuple[Any, Any]:
    """``parse(text)``, a parser bug costing one cell (as ``rows._validate`` does)."""
    try:
        return parse(text)
    except Exception:  # noqa: BLE001 - a parser must never stop a batch
        return None, UNREADABLE


def parse_column(parse: Callable, texts: Sequence, column: Callable | None = None) -> list:
    """``[(value, problem)]`` for ``texts``: once per distinct text when the column repeats
    itself (at least every other cell a repeat: a branch code, a date, a yes/no flag), else
    through ``column`` (a tight-loop form of ``parse``) when given, else cell by cell. Every
    parser answers from the text alone, so a memo changes no answer."""
    try:
        distinct = set(texts)
    except TypeError:  # an unhashable cell: no memo
        distinct = None
    if distinct is not None and 2 * len(distinct) <= len(texts):
        keys = list(distinct)
        memo = dict(zip(keys, _parse_all(parse, keys, column)))
        return list(map(memo.__getitem__, texts))
    return _parse_all(parse, texts, column)


def _parse_all(parse: Callable, texts: Sequence, column: Callable | None) -> list:
    if column is not None:
        try:
            return column(texts)
        except Exception:  # noqa: BLE001 - the per-cell parser below answers instead
            pass
    return [safe(parse, text) for text in texts]


def _stripped_strings(texts: Sequence) -> list[str] | None:
    """The cells trimmed, when every cell is a ``str`` (what the readers give), else None.

    The fast paths below decide a whole column with a few calls made in C (``str.join`` and
    ``str.isprintable``/``isascii`` over the joined column, ``map``): the joined text is
    printable exactly when every cell is, so one check over it is the per-cell check of the
    loops, done once. A column with anything unusual (one control or invisible character, one
    empty or over-long cell) goes through the loop, which names the problem per cell."""
    if not texts or set(map(type, texts)) != {str}:
        return None
    return list(map(str.strip, texts))


def _fine(stripped: list[str], max_length: int | None) -> bool:
    """No cell empty or longer than ``max_length``, and every cell printable."""
    return ("" not in stripped
            and (max_length is None or max(map(len, stripped)) <= max_length)
            and "".join(stripped).isprintable())


def text_column(max_length: int | None, multiline: bool = False) -> Callable:
    """Column form of ``cells.parse_text(raw, max_length, multiline)``."""
    too_long = (None, _l("Longer than %(max)s characters.", max=max_length)) \
        if max_length is not None else None

    def column(texts):
        stripped = _stripped_strings(texts)
        if stripped is not None and _fine(stripped, max_length):
            return list(zip(stripped, repeat(None)))
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
    stripped = _stripped_strings(texts)
    if stripped is not None and all(map(str.isalnum, stripped)):
        raw = "".join(texts)
        if raw.isascii() and raw.isprintable():  # the usual column: nothing to fold or remove
            return list(zip(stripped, repeat(None)))
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

    stripped = _stripped_strings(texts)
    if stripped is not None and _fine(stripped, 20) and " " not in "".join(stripped):
        raw = "".join(texts)
        if raw.isascii() and raw.isprintable():
            return list(zip(stripped, repeat(None)))
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
        if _stripped_strings(texts) is not None and "".join(texts).isascii():
            return text(texts)  # ASCII: folding is trimming, which ``text`` does
        return text([raw.strip() if type(raw) is str and raw.isascii() else fold(raw)
                     for raw in texts])

    return column


_EMAIL_LINES = re.compile(cells.EMAIL_PATTERN.replace("^", "(?m)^", 1))


def email_column(texts):
    """Column form of ``cells.parse_email``. The usual column (ASCII, no line breaks, none
    empty or over 255 characters, all lower case) is matched by one regular expression over
    the column joined by line breaks: the pattern cannot cross a line break, so it matches the
    joined text once per cell exactly when every cell matches alone."""
    stripped = _stripped_strings(texts)
    if stripped is not None and "" not in stripped and max(map(len, stripped)) <= 255 \
            and "".join(texts).isascii():  # ASCII: folding is trimming
        joined = "\n".join(stripped)
        if ("\n" not in "".join(stripped) and joined == joined.lower()
                and len(_EMAIL_LINES.findall(joined)) == len(stripped)):
            return list(zip(stripped, repeat(None)))
    return [safe(cells.parse_email, raw) for raw in texts]


class PrcIds:
    """The check-digit verdicts of a chunk's PRC ID numbers, computed in one numpy product.

    ``check_digit_ok(number)`` answers for the numbers given to the constructor that match the
    18-character form; the birth dates are decoded once per distinct date.
    """

    def __init__(self, numbers: Sequence[str], today: dt.date | None = None):
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
        # With ``today``: number -> birth date of each sound number (right form, check digit
        # and a birth date from 1900 to today), so that :meth:`check` answers the usual
        # number with one look-up; the others take the checks below, in their order.
        self._sound: dict[str, dt.date] = {}
        self._today = today
        if today is not None:
            for number, ok in self._ok.items():
                born = self.birth_date(number) if ok else None
                if born is not None and born <= today and born.year >= 1900:
                    self._sound[number] = born

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
        if today == self._today:
            born = self._sound.get(number)
            if born is not None:
                return None if birth_date is None or born == birth_date else BIRTH_MISMATCH
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
            return BIRTH_MISMATCH
        return None
