"""Set-based refresh of tiers, segment memberships and needs (``backoffice.segments.refresh``).

Run nightly (cron: ``0 2 * * * flask --app wsgi crm segments refresh``, which enqueues this job
for an RQ worker) and on demand from the tier screen or the same command. The whole refresh is
one transaction: the runner commits it with the job's outcome, so a failed refresh leaves the
previous tiers and memberships in place.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.extensions import db
from models import Segment
from models.base import utcnow


def refresh(*, progress, today: str | None = None) -> dict:
    """Recompute tiers (first matching tier rule), memberships and today's counts."""
    from backoffice.segments.catalog import rule_fields
    from backoffice.segments.refresh import refresh_all

    day = dt.date.fromisoformat(today) if today else utcnow().date()
    rules = db.session.scalar(select(func.count(Segment.id)).where(Segment.active.is_(True)))
    progress.update(0, total=int(rules or 0) + 3, message=_l("Refreshing tiers and segments"))
    result = refresh_all(db.session, rule_fields(session=db.session), today=day,
                         progress=progress)
    progress.update(int(rules or 0) + 3, message=_l("Tiers and segments refreshed"))
    return {"day": day.isoformat(), **result}
