"""Sending rules' customer messages, each exactly once, through messaging's channels.

The rule's run writes a ``pending`` ledger row (``automation_message``) with its other actions;
this sender claims due rows (``backoffice.messaging.ledger``), checks consent again at send
time (a withdrawal since the rule ran cancels the message), waits out quiet hours on the
channels that have them, and sends in two phases (``backoffice.messaging.delivery``), so a
re-run or a killed worker never sends a message twice. Sent messages become outbound
interactions, like greetings and campaign messages.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update

from backoffice.automation.catalog import MESSAGE_CHANNELS, MESSAGE_PURPOSES
from backoffice.messaging import quiet, registry
from backoffice.messaging.consent import granted_condition
from backoffice.messaging.delivery import MissingContact, SendError, Unconfirmed
from backoffice.messaging.ledger import ClaimedSends
from models import Customer, Interaction
from models.automation import AutomationMessage as M
from models.base import utcnow

log = logging.getLogger(__name__)
OPTIONS = {"batch": 50, "lease": dt.timedelta(minutes=5), "retry": 300, "max_attempts": 5}


def send_due(session, config, *, now: dt.datetime | None = None) -> dict:
    """Send every due rule message; safe to run any number of times, concurrently."""
    clock = (lambda: now) if now is not None else utcnow
    return _Sender(session, config, clock).run()


class _Sender(ClaimedSends):
    model = M

    def __init__(self, session, config, clock):
        self.session, self.config, self.clock = session, config, clock
        self.opts = dict(OPTIONS)
        self.tz = quiet.zone(config)
        self.channels = registry.open_channels(config, tuple(MESSAGE_CHANNELS))
        self.summary = {"sent": 0, "deferred": 0, "cancelled": 0, "retrying": 0, "failed": 0,
                        "unconfirmed": 0, "lost_claim": 0}

    def _due(self, now):
        stale = now - self.opts["lease"]
        return or_(and_(M.status.in_(("pending", "retry", "deferred")), M.next_attempt_at <= now),
                   and_(M.status == "sending", M.claimed_at < stale))

    def _allowed(self):
        consented = or_(*[and_(M.channel == channel, M.purpose == purpose,
                               granted_condition(M.customer_id, channel, (purpose,)))
                          for channel in MESSAGE_CHANNELS for purpose in MESSAGE_PURPOSES])
        return and_(consented, Customer.status == "active")

    def run(self) -> dict:
        try:
            while True:
                token, ids = self.claim_ids(self._due(self.clock()))
                if not ids:
                    break
                rows = self.session.execute(
                    select(M.id, M.channel, M.purpose, M.attempts, M.subject, M.body, M.customer_id,
                           Customer.name, Customer.email, Customer.mobile, Customer.owner_id,
                           self._allowed().label("allowed"))
                    .join(Customer, Customer.id == M.customer_id)
                    .where(M.id.in_(ids), M.claim_token == token).order_by(M.id)).all()
                facts = [(r, {"id": r.customer_id, "name": r.name, "email": r.email,
                              "mobile": r.mobile}) for r in rows]
                self.session.commit()
                sent = []
                for row, contact in facts:
                    if not row.allowed:
                        outcome = self._release(token, row.id, "cancelled", self.clock(),
                                                "consent withdrawn or customer closed",
                                                outcome="cancelled")
                    else:
                        outcome = self._send(token, row, contact)
                        if outcome in ("sent", "unconfirmed"):
                            sent.append(row)
                    self.summary[outcome] = self.summary.get(outcome, 0) + 1
                self._log(sent)
        finally:
            for channel in self.channels.values():
                channel.quit()
            self.close_ledger()
        return self.summary

    def _send(self, token, row, contact) -> str:
        now = self.clock()
        later = quiet.defer_until(now, row.channel, self.tz)
        if later is not None:
            return self._release(token, row.id, "deferred", later, None, undo_attempt=True,
                                 outcome="deferred")
        channel = self.channels.get(row.channel)
        try:
            if channel is None:
                raise MissingContact(f"unknown channel {row.channel}")
            prepared = channel.prepare(channel.address(contact), row.subject or "",
                                       row.body or "", f"rule-message-{row.id}")
        except SendError as exc:
            return self._fail(token, row.id, row.attempts, str(exc),
                              final=isinstance(exc, MissingContact))
        if not self._commit_sent(token, row.id, now):
            prepared.abort()
            return "lost_claim"
        try:
            prepared.finish()
        except Unconfirmed as exc:
            self._note(row.id, f"delivery unconfirmed: {exc}")
            return "unconfirmed"
        except SendError as exc:
            self._undo_sent(row.id)
            return self._fail(None, row.id, row.attempts, str(exc), final=False)
        return "sent"

    def _log(self, sent) -> None:
        """Sent messages as outbound interactions, linked back (one flush, one commit)."""
        if not sent:
            return
        pairs = []
        for row in sent:
            topic = "marketing" if row.purpose == "marketing" else "service"
            interaction = Interaction(customer_id=row.customer_id, staff_id=None,
                                      occurred_at=self.clock(), channel=row.channel,
                                      direction="outbound", topic=topic, custom_fields={},
                                      summary=f"{row.subject or ''}: {row.body or ''}"[:2000])
            self.session.add(interaction)
            pairs.append((row.id, interaction))
        self.session.flush()
        self.session.execute(update(M), [{"id": i, "interaction_id": it.id} for i, it in pairs])
        self.session.commit()
