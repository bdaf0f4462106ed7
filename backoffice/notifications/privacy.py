"""What a reader may read of their notifications, decided when they are shown.

A notification about a customer was written for a recipient who could see that customer then;
the record may since have moved branch or owner, or the recipient changed role. So every
display (the page, the digest e-mail) asks the record scope again, for the reader, and a
notification about a customer outside it shows only a neutral sentence: no message, no link.
The scope is the one every query runs under (``backoffice.security.scopes``): in a request the
signed-in user's, in the digest job the recipient's (``as_scope``).
"""
from __future__ import annotations

from dataclasses import dataclass
import datetime as dt

from flask_babel import gettext
from sqlalchemy import select

from backoffice import stored_text
from backoffice.notifications import kinds
from models import Customer


@dataclass(frozen=True)
class Shown:
    """One notification as its reader may see it."""

    id: int
    kind: str
    label: str
    text: str
    link: str | None
    created_at: dt.datetime
    read: bool
    withheld: bool


def customer_of(notification) -> int | None:
    if notification.customer_id is not None:
        return notification.customer_id
    if notification.entity == "Customer":
        return notification.entity_id
    return None


def visible_customers(session, customer_ids) -> set[int]:
    """The ids among ``customer_ids`` that the scope in force lets the reader see."""
    wanted = sorted({cid for cid in customer_ids if cid is not None})
    if not wanted:
        return set()
    return set(session.scalars(select(Customer.id).where(Customer.id.in_(wanted))).all())


def withheld_text() -> str:
    return gettext("A notification about a record you cannot see.")


def shown(session, notifications) -> list[Shown]:
    """The notifications in the current language, content withheld where the reader's scope
    does not reach the customer they are about."""
    visible = visible_customers(session, [customer_of(n) for n in notifications])
    result = []
    for item in notifications:
        about = customer_of(item)
        withheld = about is not None and about not in visible
        result.append(Shown(
            id=item.id, kind=item.kind, label=kinds.label(item.kind),
            text=withheld_text() if withheld else stored_text.show(item.message),
            link=None if withheld else _safe_link(item.link), created_at=item.created_at,
            read=item.read_at is not None, withheld=withheld))
    return result


def _safe_link(link: str | None) -> str | None:
    """Only paths of this application (no open redirect through a stored link)."""
    if link and link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return None
