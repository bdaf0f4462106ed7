"""@mentions: finding colleagues named in a comment's text, and telling them.

A mention is ``@`` followed by a colleague's login name or their name, family name first
(``@王丽``, ``@wangli``, ``@Wang Li`` or ``@Li Wang``). The text is kept as typed; who was meant
is resolved when the comment is saved and stored as staff ids. Names may contain spaces and
Chinese names need none after them (``@王丽请回电``), so each ``@`` takes the longest name of an
active colleague that the text continues with; a name that matches nobody active (a typo, a
former colleague) stays plain text. Two colleagues with the same name: the one picked from the
suggestions (their id is posted with the form) wins, else neither is mentioned and the author
is told. A login name is unique, so it names its owner even when it reads like another
colleague's name (``@wangli`` is the login ``wangli``, not Wang Li).

:func:`find` is pure (text and people in, spans out) so it is tested without an app;
:func:`resolve` asks the database only about names that could follow an ``@`` in this text.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy import func, or_, select

MAX_MENTIONS = 20  # ``@`` signs of one comment considered
MAX_NAME = 40  # characters of a name after ``@``
# An ``@`` that starts a mention: not inside an e-mail address or a word.
_AT = re.compile(r"(?<![0-9A-Za-z_.@])@")
_ASCII_WORD = re.compile(r"[0-9A-Za-z_]")


def staff_name(staff) -> str:
    """A colleague's name, family name first (a space between Latin names)."""
    last = (getattr(staff, "last_name", "") or "").strip()
    first = (getattr(staff, "first_name", "") or "").strip()
    if not last:
        return first or getattr(staff, "username", "") or ""
    if not first:
        return last
    if last.isascii() and first.isascii():
        return f"{last} {first}"
    return f"{last}{first}"


@dataclass(frozen=True)
class Person:
    id: int
    name: str  # shown, family name first
    aliases: tuple[str, ...]  # lower-case texts that mention them
    login: str = ""  # the lower-case login name, unique: it wins over a shared name


def person_of(staff) -> Person:
    last = (staff.last_name or "").strip()
    first = (staff.first_name or "").strip()
    names = {staff.username or "", staff_name(staff), f"{last}{first}", f"{last} {first}",
             f"{first} {last}"}
    aliases = tuple(sorted({n.strip().lower() for n in names if n.strip()}, key=len,
                           reverse=True))
    return Person(staff.id, staff_name(staff), aliases, (staff.username or "").lower())


@dataclass
class Found:
    """What a text mentions: ``spans`` (start, end, staff id) in text order, the ``ids`` once
    each, and the ``ambiguous`` names that fit several colleagues."""

    spans: list[tuple[int, int, int]] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        seen: list[int] = []
        for _start, _end, staff_id in self.spans:
            if staff_id not in seen:
                seen.append(staff_id)
        return seen


def _ends_cleanly(text: str, end: int, alias: str) -> bool:
    """A Latin name must not run on into a longer word (``@wangli`` is not ``@wang``)."""
    if end >= len(text) or not _ASCII_WORD.match(alias[-1]):
        return True
    return not _ASCII_WORD.match(text[end])


def starts(text: str) -> list[int]:
    return [m.end() for m in _AT.finditer(text)][:MAX_MENTIONS]


def find(text: str, people: Iterable[Person], picked: Iterable[int] = ()) -> Found:
    """The mentions in ``text`` of ``people`` (see the module docstring)."""
    by_alias: dict[str, list[Person]] = {}
    for person in people:
        for alias in person.aliases:
            by_alias.setdefault(alias, [])
            if person not in by_alias[alias]:
                by_alias[alias].append(person)
    picked = set(picked)
    found = Found()
    lowered = text.lower()
    for begin in starts(text):
        best = None
        for alias, owners in by_alias.items():
            end = begin + len(alias)
            if lowered.startswith(alias, begin) and _ends_cleanly(text, end, alias) \
                    and (best is None or len(alias) > len(best[0])):
                best = (alias, owners)
        if best is None:
            continue
        alias, owners = best
        chosen = owners if len(owners) == 1 else (
            [p for p in owners if p.login == alias] or [p for p in owners if p.id in picked])
        if len(chosen) != 1:
            found.ambiguous.append(text[begin:begin + len(alias)])
            continue
        found.spans.append((begin - 1, begin + len(alias), chosen[0].id))
    return found


def candidates(text: str) -> set[str]:
    """Every lower-case text that could be a name after one of the ``@`` (bounded)."""
    result = set()
    for begin in starts(text):
        rest = text[begin:begin + MAX_NAME].lower()
        for end in range(1, len(rest) + 1):
            piece = rest[:end]
            if piece.strip() == piece and _ends_cleanly(rest, end, piece):
                result.add(piece)
    return result


def active_people(session, text: str) -> list[Person]:
    """The active colleagues some ``@`` of ``text`` may name (one query)."""
    from models import Staff

    wanted = sorted(candidates(text))
    if not wanted:
        return []
    last, first = func.coalesce(Staff.last_name, ""), func.coalesce(Staff.first_name, "")
    forms = (func.lower(Staff.username), func.lower(last + first),
             func.lower(last + " " + first), func.lower(first + " " + last))
    rows = session.scalars(select(Staff).where(
        Staff.active.is_(True), or_(*(form.in_(wanted) for form in forms)))).all()
    return [person_of(staff) for staff in rows]


def resolve(session, text: str, picked: Iterable[int] = ()) -> Found:
    return find(text, active_people(session, text), picked)


def people_by_id(session, ids: Iterable[int]) -> dict[int, Person]:
    """The named colleagues (active or not: a comment keeps whom it mentioned)."""
    from models import Staff

    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    return {staff.id: person_of(staff)
            for staff in session.scalars(select(Staff).where(Staff.id.in_(wanted))).all()}


def highlighted(text: str, people: Iterable[Person]) -> Markup:
    """The text, escaped, with each mention of ``people`` marked (the stored ids decide who is
    highlighted, not whoever carries the name today)."""
    people = list(people)
    spans = find(text, people, picked=[p.id for p in people]).spans
    names = {p.id: p.name for p in people}
    parts, position = [], 0
    for start, end, staff_id in spans:
        parts.append(escape(text[position:start]))
        parts.append(Markup('<span class="crm-mention label label-info" data-staff="{}" '
                            'title="{}">{}</span>').format(staff_id, names.get(staff_id, ""),
                                                          text[start:end]))
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)
