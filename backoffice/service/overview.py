"""What the customer 360 page and the counter view show about consent: per channel and purpose
the statement in force (granted or refused, where the customer said so, when), and the closed
statements (withdrawn grants, superseded refusals) so staff can see what changed and when.

Read through the request's session, so the record scope applies as on every other path.
"""
from __future__ import annotations

import functools

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from backoffice.extensions import db
from backoffice.messaging import registry as message_channels
from models.consent import CONSENT_CHANNELS, CONSENT_PURPOSES, Consent

CHANNEL_LABELS = message_channels.labels(CONSENT_CHANNELS)
PURPOSE_LABELS = {"marketing": _l("Marketing"), "greeting": _l("Greetings"),
                  "service": _l("Service")}
HISTORY_LIMIT = 20


def consent_overview(customer, session=None) -> dict:
    """{channels, purposes, current[(channel, purpose)] -> Consent, history: [Consent]}.

    One query for the customer's statements; ``history`` holds the closed ones, newest first.
    """
    session = session or db.session
    rows = session.scalars(_statements_of_customer(), {"consent_customer": customer.id}).all()
    current = {(row.channel, row.purpose): row for row in rows if row.withdrawn_at is None}
    history = [row for row in rows if row.withdrawn_at is not None][:HISTORY_LIMIT]
    return {"channels": [(code, CHANNEL_LABELS[code]) for code in CONSENT_CHANNELS],
            "purposes": [(code, PURPOSE_LABELS[code]) for code in CONSENT_PURPOSES],
            "current": current, "history": history}


@functools.cache
def _statements_of_customer():
    """Built once: the 360 page asks it on every view (header and profile tab), and building
    a statement and its cache key per page cost about as much as running it."""
    return (select(Consent).where(Consent.customer_id == bindparam("consent_customer"))
            .order_by(Consent.recorded_at.desc(), Consent.id.desc()))
