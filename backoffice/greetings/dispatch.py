"""The daily greeting run: select the day's occasions, then send what is due, exactly once.

Two phases, both safe to repeat at any time and from any number of processes:

1. *Selection* (``selection.select_occasion``) inserts one ``greeting_dispatch`` row per
   customer due a greeting, under the UNIQUE key (customer, occasion, date, channel).
2. *Sending* claims due rows in batches (one ``UPDATE ... SET claim_token ... RETURNING`` on
   rows that are due, or ``sending`` with an expired lease, i.e. left by a killed worker), sends
   each in two phases (``backoffice.messaging.delivery``) over one SMTP connection, and commits
   ``sent`` only while still holding the claim, just before the message's last byte. That
   per-message commit is a single autocommitted conditional UPDATE (one database round trip, no
   BEGIN/COMMIT pair): it is the one write the protocol needs before the last byte. A row
   someone else has claimed meanwhile is dropped unsent.
3. *Logging*: the batch's Interactions (and phone-call tasks) are written together, in one
   flush and one commit after the batch, and linked from their dispatch rows. A worker killed
   between a ``sent`` commit and that write leaves ``sent`` rows without an interaction; the
   next run logs them from the dispatch row itself (subject, body, time), once their lease has
   expired, so a live worker's batch is never logged twice.

Failures retry with exponential backoff (``CRM_GREETING_RETRY_SECONDS`` × 2^(attempt-1)) up to
``CRM_GREETING_MAX_ATTEMPTS``, then stay ``failed`` with the last error, visible on the dispatch
screen. SMS and calls due in quiet hours (21:00-08:00 local) wait, ``deferred``, until 08:00.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from backoffice.greetings import render, selection
from backoffice.messaging import quiet, registry
from backoffice.messaging.consent import granted_condition
from backoffice.messaging.delivery import MissingContact, SendError, Unconfirmed
from backoffice.messaging.ledger import ClaimedSends
from models import FollowUp, Interaction
from models.base import utcnow
from models.customers import Customer
from models.greetings import GreetingDispatch, GreetingTemplate, Occasion, Offer

log = logging.getLogger(__name__)
D = GreetingDispatch


def settings(config) -> dict:
    return {
        "lease": dt.timedelta(seconds=float(config.get("CRM_GREETING_LEASE_SECONDS") or 300)),
        "batch": int(config.get("CRM_GREETING_BATCH") or 20),
        "retry": float(config.get("CRM_GREETING_RETRY_SECONDS") or 300),
        "max_attempts": int(config.get("CRM_GREETING_MAX_ATTEMPTS") or 5),
    }


def run_day(session, config, *, run_date: dt.date | None = None, now: dt.datetime | None = None,
            occasion_codes=None, progress=None) -> dict:
    """Select ``run_date``'s occasions (default: today, local) and send everything due.

    ``now`` (naive UTC) fixes the clock for the whole run (tests, replays); by default each
    step reads the real time.
    """
    tz = quiet.zone(config)
    clock = (lambda: now) if now is not None else utcnow
    start = clock()
    run_date = run_date or quiet.to_local(start, tz).date()
    query = select(Occasion).where(Occasion.active.is_(True)).order_by(Occasion.id)
    if occasion_codes:
        query = query.where(Occasion.code.in_(list(occasion_codes)))
    occasions = session.scalars(query).all()
    summary = {"date": run_date.isoformat(), "selected": 0, "sent": 0, "deferred": 0,
               "retrying": 0, "failed": 0, "cancelled": 0, "unconfirmed": 0, "skipped": Counter(),
               "occasions": {}}
    for occasion in occasions:
        found = selection.select_occasion(session, occasion, run_date, start, tz)
        session.commit()
        summary["selected"] += found.selected
        summary["deferred"] += found.deferred
        summary["skipped"].update(found.skipped or {})
        summary["occasions"][occasion.code] = {
            "occasion_date": found.occasion_date.isoformat(), "selected": found.selected,
            "skipped": found.skipped or {}}
    Sender(session, config, clock, tz, [o.id for o in occasions], progress).run(summary)
    summary["skipped"] = dict(summary["skipped"])
    return summary


class Sender(ClaimedSends):
    """Claims due dispatch rows batch by batch and sends them."""

    model = D

    def __init__(self, session, config, clock, tz, occasion_ids, progress=None):
        self.session, self.config, self.clock, self.tz = session, config, clock, tz
        self.occasion_ids = list(occasion_ids)
        self.progress = progress
        self.opts = settings(config)
        self.channels = registry.open_channels(config)
        self.templates = {(t.occasion_id, t.tier, t.language, t.channel): t
                          for t in session.scalars(select(GreetingTemplate))}
        self.offers = session.scalars(select(Offer)).all()
        self.occasions = {o.id: o for o in session.scalars(select(Occasion))}
        self.done = 0
        self.to_log: list[_Sent] = []  # sent in the current batch, interactions not yet written

    def _due(self, now):
        stale = now - self.opts["lease"]
        return and_(
            D.occasion_id.in_(self.occasion_ids),
            or_(and_(D.status.in_(("pending", "retry", "deferred")), D.next_attempt_at <= now),
                and_(D.status == "sending", D.claimed_at < stale)),
        )

    def claim(self) -> tuple[str, list]:
        """Take up to a batch of due rows for this sender (one UPDATE, then one SELECT)."""
        token, claimed_ids = self.claim_ids(self._due(self.clock()))
        if not claimed_ids:
            return token, []
        # Consent and status are read again at send time: a withdrawal between selection and
        # sending (an SMS deferred overnight) is honoured.
        allowed = and_(granted_condition(D.customer_id, D.channel, selection.GREETING_PURPOSES),
                       Customer.status.notin_(selection.INACTIVE_STATUSES)).label("allowed")
        rows = self.session.execute(
            select(D, Customer, allowed).join(Customer, Customer.id == D.customer_id)
            .where(D.id.in_(claimed_ids), D.claim_token == token, D.status == "sending")
            .order_by(D.id)).all()
        # Plain values now: every commit below expires ORM objects, and reloading them per
        # message would cost a query each.
        claimed = [(_Row(d.id, d.channel, d.attempts, d.occasion_id, d.occasion_date),
                    _facts(c), bool(ok)) for d, c, ok in rows]
        self.session.commit()
        return token, claimed

    def run(self, summary: dict) -> None:
        try:
            self.log_unlogged()
            while True:
                token, rows = self.claim()
                if not rows:
                    break
                for dispatch, customer, allowed in rows:
                    if allowed:
                        outcome = self.send_one(token, dispatch, customer)
                    else:
                        outcome = self._release(token, dispatch.id, "cancelled", self.clock(),
                                                "consent withdrawn or customer closed before "
                                                "sending", outcome="cancelled")
                    summary[outcome] = summary.get(outcome, 0) + 1
                    self.done += 1
                    if self.progress is not None:
                        self.progress.update(self.done, message=_l("Sending greetings"))
                self.write_log()
        finally:
            for channel in self.channels.values():
                channel.quit()
            self.close_ledger()

    # --- one message -------------------------------------------------------------------------

    def send_one(self, token: str, dispatch: "_Row", facts: dict) -> str:
        now = self.clock()
        later = quiet.defer_until(now, dispatch.channel, self.tz)
        if later is not None:
            return self._release(token, dispatch.id, "deferred", later, None, undo_attempt=True)
        occasion = self.occasions[dispatch.occasion_id]
        dispatch_id, channel, attempts = dispatch.id, dispatch.channel, dispatch.attempts
        template = render.pick_template(self.templates, occasion.id, facts["tier"],
                                        facts["language"], channel)
        if template is None:
            return self._fail(token, dispatch_id, attempts, "no template for this occasion",
                              final=True)
        offer = render.pick_offer(self.offers, occasion.id, facts["tier"],
                                  dispatch.occasion_date)
        text = render.render(template, offer, name=facts["name"], gender=facts["gender"],
                             language=facts["language"], occasion_name=occasion.name,
                             dispatch_id=dispatch_id)
        message_id = f"greeting-{dispatch_id}"
        try:
            prepared = self._prepare(channel, facts, text, message_id)
        except SendError as exc:
            return self._fail(token, dispatch_id, attempts, str(exc),
                              final=isinstance(exc, MissingContact))
        if not self._commit_sent(token, dispatch.id, now, subject=text.subject[:200],
                                 body=text.body, offer_id=text.offer_id, offer_code=text.code):
            prepared.abort()
            return "lost_claim"
        sent = _Sent(dispatch.id, facts["id"], channel, now, occasion.name, text.subject,
                     text.body, facts["owner_id"], facts["name"], dispatch.occasion_date)
        try:
            prepared.finish()
        except Unconfirmed as exc:
            self.to_log.append(sent)
            self._note(dispatch_id, f"delivery unconfirmed: {exc}")
            return "unconfirmed"
        except SendError as exc:
            self._undo_sent(dispatch_id)
            return self._fail(None, dispatch_id, attempts, str(exc), final=False)
        self.to_log.append(sent)
        return "sent"

    def _prepare(self, channel, facts, text, message_id):
        sender = self.channels.get(channel)
        if sender is None:
            raise MissingContact(f"unknown channel {channel}")
        return sender.prepare(sender.address(facts), text.subject, text.body, message_id)

    def write_log(self) -> None:
        """The batch's Interactions and call tasks: one flush, one commit, linked back."""
        sent, self.to_log = self.to_log, []
        if sent:
            _log_sent(self.session, sent, self.tz)
            self.session.commit()

    def log_unlogged(self) -> None:
        """Log what a killed worker sent but did not log (rows ``sent`` past their lease)."""
        stale = self.clock() - self.opts["lease"]
        rows = self.session.execute(
            select(D.id, D.customer_id, D.channel, D.sent_at, Occasion.name, D.subject, D.body,
                   D.occasion_date, Customer)
            .join(Occasion, Occasion.id == D.occasion_id)
            .join(Customer, Customer.id == D.customer_id)
            .where(D.occasion_id.in_(self.occasion_ids), D.status == "sent",
                   D.interaction_id.is_(None), D.sent_at < stale)).all()
        if rows:
            _log_sent(self.session, [
                _Sent(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6] or "", r[8].owner_id,
                      r[8].name, r[7]) for r in rows], self.tz)
            self.session.commit()
            log.warning("logged %s greeting(s) a stopped worker had sent", len(rows))


@dataclass(frozen=True)
class _Sent:
    """A message committed ``sent``, waiting for its Interaction (and call task)."""

    dispatch_id: int
    customer_id: int
    channel: str
    sent_at: dt.datetime
    occasion_name: str
    subject: str
    body: str
    owner_id: int | None
    name: str
    occasion_date: dt.date


def _log_sent(session, sent: list[_Sent], tz) -> None:
    """Interactions (and phone-call tasks) for sent messages in one flush; link them back."""
    pairs = []
    for item in sent:
        interaction = Interaction(
            customer_id=item.customer_id, staff_id=None, occurred_at=item.sent_at,
            channel=item.channel, direction="outbound", topic="greeting", custom_fields={},
            summary=f"[{item.occasion_name}] {item.subject}: {item.body}"[:2000])
        follow_up = None
        if item.channel == "phone":
            follow_up = FollowUp(
                customer_id=item.customer_id, assignee_id=item.owner_id,
                title=f"{item.occasion_name}: {item.name}"[:200], task_type="greeting_call",
                due_at=_call_due(item.occasion_date, item.sent_at, tz), status="open",
                source="greeting", notes=item.body, interaction=interaction)
            session.add(follow_up)
        session.add(interaction)
        pairs.append((item.dispatch_id, interaction, follow_up))
    session.flush()
    session.execute(update(D), [
        {"id": dispatch_id, "interaction_id": interaction.id,
         "follow_up_id": follow_up.id if follow_up is not None else None}
        for dispatch_id, interaction, follow_up in pairs])


def _call_due(occasion_date: dt.date, now: dt.datetime, tz) -> dt.datetime:
    """10:00 local on the occasion day (or now, if that is past)."""
    local = dt.datetime.combine(occasion_date, dt.time(10, 0), tzinfo=tz)
    return max(quiet.to_utc_naive(local), now)


@dataclass(frozen=True)
class _Row:
    """What sending needs of a claimed dispatch row."""

    id: int
    channel: str
    attempts: int
    occasion_id: int
    occasion_date: dt.date


def _facts(customer: Customer) -> dict:
    """What rendering and sending need of the customer (decrypted once, here)."""
    return {"id": customer.id, "name": customer.name, "gender": customer.gender,
            "email": customer.email, "mobile": customer.mobile,
            "tier": customer.effective_tier, "owner_id": customer.owner_id,
            "language": render.language_of(customer.custom_fields)}
