"""A member of staff's daily digest setting: off, or daily at a time of day (display zone)."""
from __future__ import annotations

import datetime as dt

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from models.notifications import NotificationPreference

OFF, DAILY = "off", "daily"
DEFAULT_TIME = dt.time(8, 0)


def choices() -> list[tuple[str, str]]:
    return [(OFF, str(_l("Off"))), (DAILY, str(_l("Daily e-mail digest")))]


def of(session, staff_id: int) -> NotificationPreference:
    """The stored setting, or an unsaved "off" one."""
    found = session.get(NotificationPreference, staff_id)
    return found if found is not None else NotificationPreference(staff_id=staff_id, digest=OFF)


def save(session, staff_id: int, digest: str | None, at: str | None) -> dict:
    """Validate and store; returns ``{field: message}`` (nothing stored) when refused."""
    errors = {}
    if digest not in (OFF, DAILY):
        errors["digest"] = str(_l("Choose off or daily."))
    when = None
    if at:
        try:
            when = dt.time.fromisoformat(at.strip())
        except ValueError:
            errors["digest_time"] = str(_l("Enter a time of day as HH:MM, e.g. 08:00."))
        else:
            when = when.replace(second=0, microsecond=0, tzinfo=None)
    if errors:
        return errors
    row = session.get(NotificationPreference, staff_id)
    if row is None:
        row = NotificationPreference(staff_id=staff_id)
        session.add(row)
    row.digest, row.digest_time = digest, when or DEFAULT_TIME
    row.language = str(get_locale() or "") or None
    return {}
