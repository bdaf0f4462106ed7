"""Raising notifications: one call, rows added to the caller's session.

The rows commit (or roll back) with the change that caused them, so a task assigned in a
failed save notifies nobody. The message is kept as its message id and parameters
(``backoffice.stored_text``), so the same row reads in Chinese to one recipient and in English
to another, whoever raised it and in whatever language.
"""
from __future__ import annotations

from sqlalchemy import select

from backoffice import stored_text
from backoffice.notifications import kinds
from models.base import utcnow
from models.notifications import Notification
from models.org import Staff


def notify(session, staff_ids, kind: str, message, *, link: str | None = None,
           entity: str | None = None, entity_id: int | None = None,
           customer_id: int | None = None, actor_id: int | None = None) -> list[Notification]:
    """Add one notification per active member of staff in ``staff_ids`` (ids, duplicates and
    ``None`` ignored) to ``session``; returns the rows (not flushed).

    ``message`` is a lazy translation (``_l("... %(name)s", name=...)``) or plain text;
    ``customer_id`` names the customer the notice is about, so that a reader who cannot see
    that customer is shown a neutral text instead (``backoffice.notifications.privacy``).
    Staff ids that are unknown or inactive receive nothing.
    """
    if not kinds.known(kind):
        raise ValueError(f"undeclared notification kind: {kind!r}")
    wanted = sorted({int(staff_id) for staff_id in (staff_ids or ()) if staff_id is not None})
    if not wanted:
        return []
    with session.no_autoflush:
        active = set(session.scalars(select(Staff.id).where(
            Staff.id.in_(wanted), Staff.active.is_(True))).all())
    stored = stored_text.keep(message)
    now = utcnow()
    rows = [Notification(recipient_id=staff_id, kind=kind, message=stored,
                         link=(link or None) and link[:500], entity=entity,
                         entity_id=entity_id, customer_id=customer_id, actor_id=actor_id,
                         created_at=now)
            for staff_id in wanted if staff_id in active]
    session.add_all(rows)
    return rows
