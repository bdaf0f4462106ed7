"""The password policy: long enough, and not a password people commonly choose.

Why this and not FAB's default validator (DESIGN pitfall 7): FAB asks for character classes and
10 characters, which ``Password1!`` passes. The bank's rule follows ASVS and NIST 800-63B: at
least ``CRM_PASSWORD_MIN_LENGTH`` (12) characters, and refused if it is on a list of common
passwords or is easily guessed from one (``Password1234!`` is ``password`` plus a pattern).

The list is the 30,000 most common passwords that the ``zxcvbn`` package ships (pinned in
requirements.txt), so no word list is kept in the repository; zxcvbn's estimate, with its l33t,
keyboard-pattern, sequence and date matching, catches the variations of those words.

One function, :func:`password_problems`, is the rule; every path that sets a password uses it:
FAB's add-user and reset-password forms (``FAB_PASSWORD_COMPLEXITY_VALIDATOR``), the security
manager's ``add_user`` / ``reset_password`` (FAB's own CLI), ``flask crm init`` and ``crm demo``.
"""
from __future__ import annotations

import functools
import re

DEFAULT_MIN_LENGTH = 12
DEFAULT_MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses or more
MAX_LENGTH = 128  # hashing is deliberately slow; refuse megabyte "passwords"
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_UNLEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                         "$": "s", "!": "i"})


class WeakPassword(ValueError):
    """A password breaks the policy; the message lists every reason, for the person choosing it."""

    def __init__(self, problems: list[str]):
        self.problems = [str(p) for p in problems]
        super().__init__(" ".join(self.problems))


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The common-password list (lower case), loaded once per process."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    """On the list as typed, ignoring case, l33t spelling, or digits and symbols at the ends."""
    lowered = password.lower()
    core = _EDGE.sub("", lowered)
    candidates = {lowered, core, lowered.translate(_UNLEET), core.translate(_UNLEET)}
    listed = common_passwords()
    return any(len(c) >= 4 and c in listed for c in candidates) or lowered in listed


def _setting(name: str, default):
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config.get(name, default)
    return default


def password_problems(password: str | None, user_inputs: tuple[str, ...] = ()) -> list[str]:
    """Every reason ``password`` is refused (an empty list means it is acceptable).

    ``user_inputs`` (username, names, e-mail) make a password built from them count as guessable.
    """
    from flask_babel import gettext

    password = password or ""
    min_length = int(_setting("CRM_PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH))
    min_score = int(_setting("CRM_PASSWORD_MIN_SCORE", DEFAULT_MIN_SCORE))
    problems = []
    if len(password) < min_length:
        problems.append(gettext(
            "The password must have at least %(min)d characters (it has %(length)d).",
            min=min_length, length=len(password)))
    if len(password) > MAX_LENGTH:
        problems.append(gettext("The password must not be longer than %(max)d characters.",
                                 max=MAX_LENGTH))
        return problems
    if password and is_common(password):
        problems.append(gettext(
            "This is a commonly used password (or one with a few characters added): "
            "choose another."))
    elif password and min_score > 0 and len(password) >= min_length:
        from zxcvbn import zxcvbn

        inputs = [value for value in user_inputs if value]
        if zxcvbn(password, user_inputs=inputs)["score"] < min_score:
            problems.append(gettext(
                "This password is too easy to guess (it is close to a common password, a "
                "name, or a keyboard or number pattern): choose a longer or less predictable "
                "one, such as several unrelated words."))
    return problems


def check_password(password: str | None, user_inputs: tuple[str, ...] = ()) -> None:
    """Raise :class:`WeakPassword` if ``password`` breaks the policy."""
    problems = password_problems(password, user_inputs)
    if problems:
        raise WeakPassword(problems)


def fab_password_validator(password: str) -> None:
    """``FAB_PASSWORD_COMPLEXITY_VALIDATOR``: FAB shows the exception's text under the field."""
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    problems = password_problems(password)
    if problems:
        raise PasswordComplexityValidationError(" ".join(problems))
