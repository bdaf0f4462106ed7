"""Validators for the identifiers Chinese banking data carries.

Pure functions over plain strings so that forms, the API, imports and demo data share one
definition. Each ``check_*`` returns ``None`` when the value is valid and a translatable message
otherwise; ``normalise_*`` returns the canonical stored form.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def prc_id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def normalise_prc_id(value: str) -> str:
    """Strip spaces, fold full-width digits (NFKC) and upper-case the trailing x, the forms
    people actually type."""
    return re.sub(r"\s+", "", _nfkc(value or "")).upper()


def _nfkc(text: str) -> str:
    """Full-width digits and letters as ASCII (``１３８`` -> ``138``); ASCII costs nothing."""
    if text.isascii():
        return text
    import unicodedata

    return unicodedata.normalize("NFKC", text)


def prc_id_birth_date(value: str) -> dt.date | None:
    """The birth date encoded in an 18-digit ID number, or None if it is not a real date."""
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except (ValueError, IndexError):
        return None


def prc_id_gender(value: str) -> str:
    """'M' or 'F' from the 17th digit (odd for men)."""
    return "M" if int(value[16]) % 2 else "F"


def check_prc_id(value: str, birth_date: dt.date | None = None, today: dt.date | None = None):
    """Validate an 18-digit resident ID number; optionally that it agrees with ``birth_date``."""
    value = normalise_prc_id(value)
    if not _ID_RE.match(value):
        return _l("ID number must be 17 digits followed by a digit or X (18 characters).")
    born = prc_id_birth_date(value)
    today = today or dt.date.today()
    if born is None or born > today or born.year < 1900:
        return _l("ID number does not contain a real birth date.")
    if prc_id_check_digit(value[:17]) != value[17]:
        return _l("ID number check digit is wrong.")
    if birth_date is not None and born != birth_date:
        return _l("ID number birth date does not match the birth date given.")
    return None


def normalise_mobile(value: str) -> str:
    """Digits only, without a +86/0086 country prefix."""
    digits = re.sub(r"[\s\-()]", "", _nfkc(value or ""))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits


def check_mobile(value: str):
    """A mainland mobile number: 11 digits starting 13–19."""
    if not _MOBILE_RE.match(normalise_mobile(value)):
        return _l("Mobile number must be 11 digits starting with 13 to 19.")
    return None


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(value: str):
    """A Unified Social Credit Code: 18 characters of its alphabet with a valid check character."""
    value = (value or "").strip().upper()
    if len(value) != 18 or any(c not in _USCC_ALPHABET for c in value):
        return _l("Unified social credit code must be 18 characters of digits and capitals.")
    if uscc_check_char(value[:17]) != value[17]:
        return _l("Unified social credit code check character is wrong.")
    return None


def luhn_valid(number: str) -> bool:
    """The Luhn checksum that bank card numbers carry."""
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def check_bank_card(value: str):
    """A bank card number: 16–19 digits passing the Luhn check."""
    digits = re.sub(r"\s+", "", value or "")
    if not (16 <= len(digits) <= 19 and digits.isdigit()):
        return _l("Bank card number must be 16 to 19 digits.")
    if not luhn_valid(digits):
        return _l("Bank card number fails the Luhn check.")
    return None


def luhn_check_digit(partial: str) -> str:
    """The digit to append to ``partial`` so that the whole passes Luhn."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise ValueError(partial)


MONEY_LIMIT = Decimal(10) ** 16  # amounts are Numeric(18, 2): below this, in absolute value

# No spreadsheet's or form's number has an exponent beyond this; far beyond it (1E1000000)
# Decimal arithmetic overflows, and int() of it builds an integer of a million digits.
EXPONENT_LIMIT = 1000


def ordinary_number(value: Decimal) -> bool:
    """A finite number of a sane size (its exponent within ``EXPONENT_LIMIT`` either way): what
    a typed-in or imported number may be before anything computes with it."""
    return value.is_finite() and abs(value.adjusted()) <= EXPONENT_LIMIT


# --- clean text: names and identifiers ---------------------------------------------------------

# Invisible characters that change how text reads without showing themselves: zero-width
# spaces and joiners, directional marks, embeddings, overrides and isolates, and a byte-order
# mark inside text. They are Unicode format characters (category Cf), refused with the rest of
# that category and every control character (Cc: NUL, the ESC that starts an ANSI escape, ...).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_BREAKS = frozenset("\t\n\r")
# Control characters have no Unicode name; these are the ones files actually carry.
_CONTROL_NAMES = {0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x09: "CHARACTER TABULATION",
                  0x0A: "LINE FEED", 0x0B: "LINE TABULATION", 0x0C: "FORM FEED",
                  0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE",
                  0x85: "NEXT LINE"}
# What a customer number may hold once full-width forms are folded: printable ASCII without
# spaces. Letters from other scripts that look like Latin ones (Cyrillic С, Greek Ο) would let
# two numbers that read the same both exist.
_CUSTOMER_NO_RE = re.compile(r"^[\x21-\x7e]+$")


class InvalidValue(ValueError):
    """A value a record may not hold; ``field`` names it, ``message`` (translatable) says why.

    Raised by the models' validation hooks, so that every writer (form, API, import, review,
    script) meets the same rule; ``str()`` is the message."""

    def __init__(self, field: str, message):
        super().__init__(str(message))
        self.field, self.message = field, message

    def __str__(self) -> str:
        return str(self.message)


def character_label(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a message names a character nobody can see."""
    import unicodedata

    code = ord(char)
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code) or (
        "CONTROL CHARACTER" if unicodedata.category(char) == "Cc" else "UNNAMED CHARACTER")
    return f"U+{code:04X} {name}"


def unsafe_character(value: str, allow_breaks: bool = False) -> tuple[int, str] | None:
    """The first (1-based position, character) of ``value`` that may not be in a name or an
    identifier (a control, format, separator or surrogate character), or None.

    ``allow_breaks``: tab and line breaks are accepted (long texts such as notes)."""
    if value.isprintable():  # the usual value, decided in C: no Cc/Cf/Zl/Zp in it
        return None
    import unicodedata

    for position, char in enumerate(value, start=1):
        if allow_breaks and char in _BREAKS:
            continue
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return position, char
    return None


def check_clean_text(value, allow_breaks: bool = False):
    """None when ``value`` has no invisible or control character, else a message naming the
    first one and where it is (the value itself is never repeated: messages reach logs)."""
    if not isinstance(value, str):
        return None
    found = unsafe_character(value, allow_breaks)
    if found is None:
        return None
    position, char = found
    return _l("Contains the invisible or control character %(character)s at position "
              "%(position)s; remove it and type the value again.",
              character=character_label(char), position=position)


def normalise_identifier(value: str) -> str:
    """An identifier as stored: NFKC (full-width digits and letters to ASCII), trimmed."""
    import unicodedata

    text = value or ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip()


def normalise_customer_no(value: str) -> str:
    """The one stored form of a customer number (:func:`normalise_identifier`)."""
    return normalise_identifier(value)


def check_customer_no(value: str):
    """A normalised customer number: printable ASCII without spaces, at most 20 characters."""
    text = value or ""
    problem = check_clean_text(text)
    if problem is not None:
        return problem
    if not text:
        return _l("A value is required.")
    if len(text) > 20:
        return _l("Longer than %(max)s characters.", max=20)
    if not _CUSTOMER_NO_RE.match(text):
        for position, char in enumerate(text, start=1):
            if not "\x21" <= char <= "\x7e":
                return _l("A customer number may hold only Latin letters, digits and "
                          "punctuation, without spaces; it has %(character)s at position "
                          "%(position)s.", character=character_label(char),
                          position=position)
    return None
