"""Campaign messages through the real channels (e-mail, SMS, WeChat), each exactly once.

Launch writes one ``campaign_message`` row (``pending``) per customer of the *target* group whose
channel is sent by the app (``MESSAGE_CHANNELS``; phone targets get a follow-up task instead,
the control group gets nothing). Sending (:func:`send_campaign`, run by the RQ job
``jobs.campaigns.send_messages``) goes through messaging (``backoffice.messaging``): its send
ledger, its channels and their two-phase send:

* due rows are claimed in batches with one conditional ``UPDATE`` (a claim token; rows left
  ``sending`` by a killed worker are taken again once their lease expired);
* at send time the row is checked again: the campaign still running and not past its end
  date, the customer still in the target group, active, and passing the suitability gate *on
  this channel* today (risk tolerance, unexpired assessment, marketing consent on the channel,
  age for R4+). A consent withdrawn or an assessment expired since launch cancels the message,
  with the reason;
* each message is sent in two phases: everything but its last byte, then ``sent`` committed
  under the claim, then the last byte. A re-run, a second job or a retry never sends a row that
  is ``sent``; a row still ``sending`` was provably not delivered;
* a batch's sent messages become outbound Interactions (topic ``marketing``) and mark their
  target ``contacted``; refusals retry with exponential backoff, then stay ``failed``.

SMS waits out quiet hours (21:00–08:00 local) like greetings. WeChat goes through the bank's
official-account relay (``backoffice.messaging.channels.wechat``, its own ``CRM_WECHAT_*``
settings). Retry settings: ``CRM_CAMPAIGN_MESSAGE_BATCH``, ``..._LEASE_SECONDS``,
``..._RETRY_SECONDS``, ``..._MAX_ATTEMPTS``.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from backoffice.campaigns import gate
from backoffice.messaging import quiet, registry
from backoffice.messaging.delivery import MissingContact, SendError, Unconfirmed
from backoffice.messaging.ledger import ClaimedSends
from models import Campaign, CampaignMessage, CampaignTarget, Customer, Interaction, Product
from models.base import utcnow
from models.campaigns import MESSAGE_CHANNELS

M = CampaignMessage
DEFAULT_SUBJECT = "{campaign}"
DEFAULT_BODY = "尊敬的{name}：{offer}"
_PLACEHOLDER = re.compile(r"\{(name|offer|product|campaign)\}")


def settings(config) -> dict:
    return {
        "batch": int(config.get("CRM_CAMPAIGN_MESSAGE_BATCH") or 50),
        "lease": dt.timedelta(seconds=float(
            config.get("CRM_CAMPAIGN_MESSAGE_LEASE_SECONDS") or 300)),
        "retry": float(config.get("CRM_CAMPAIGN_MESSAGE_RETRY_SECONDS") or 300),
        "max_attempts": int(config.get("CRM_CAMPAIGN_MESSAGE_MAX_ATTEMPTS") or 5),
    }


def render(template: str | None, values: dict) -> str:
    """The campaign's message with ``{name}``, ``{offer}``, ``{product}``, ``{campaign}``
    filled; any other brace is left as written (a template is text, not code)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1)) or ""),
                            template or DEFAULT_BODY)


@dataclass(frozen=True)
class _Claimed:
    id: int
    channel: str
    attempts: int
    target_id: int
    customer_id: int
    name: str
    email: str | None
    mobile: str | None
    allowed: bool


@dataclass(frozen=True)
class _Sent:
    message_id: int
    target_id: int
    customer_id: int
    channel: str
    sent_at: dt.datetime
    subject: str
    body: str


def send_campaign(session, config, campaign_id: int, *, now: dt.datetime | None = None,
                  today: dt.date | None = None, progress=None) -> dict:
    """Send every due message of a campaign; safe to run any number of times, concurrently."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ValueError(f"no campaign {campaign_id}")
    clock = (lambda: now) if now is not None else utcnow
    sender = _Sender(session, config, campaign, clock, today, progress)
    return sender.run()


class _Sender(ClaimedSends):
    model = M

    def __init__(self, session, config, campaign, clock, today, progress):
        from backoffice.suitability import validity_days

        self.session, self.config, self.clock, self.progress = session, config, clock, progress
        self.campaign_id = campaign.id
        product = session.get(Product, campaign.product_id) if campaign.product_id else None
        self.risk = product.risk_level if product is not None else None
        self.today = today or quiet.to_local(clock(), quiet.zone(config)).date()
        self.validity = validity_days()
        self.values = {"offer": campaign.offer or "", "campaign": campaign.name,
                       "product": product.name if product is not None else ""}
        self.template, self.subject = campaign.message_template, campaign.name
        self.opts = settings(config)
        self.tz = quiet.zone(config)
        self.channels = registry.open_channels(config, MESSAGE_CHANNELS)
        self.summary = {"sent": 0, "retrying": 0, "failed": 0, "cancelled": 0,
                        "unconfirmed": 0, "deferred": 0, "lost_claim": 0}
        self.to_log: list[_Sent] = []

    # --- the run -------------------------------------------------------------------------

    def run(self) -> dict:
        try:
            self.log_unlogged()
            done = 0
            while True:
                token, rows = self.claim()
                if not rows:
                    break
                for row in rows:
                    if row.allowed:
                        outcome = self.send_one(token, row)
                    else:
                        outcome = self._release(
                            token, row.id, "cancelled", self.clock(),
                            "no longer suitable, consented or targeted at sending time",
                            outcome="cancelled")
                    self.summary[outcome] = self.summary.get(outcome, 0) + 1
                    done += 1
                    if self.progress is not None:
                        self.progress.update(done, message=_l("Sending campaign messages"))
                self.write_log()
        finally:
            for channel in self.channels.values():
                channel.quit()
            self.close_ledger()
        return self.summary

    def _due(self, now):
        stale = now - self.opts["lease"]
        return and_(M.campaign_id == self.campaign_id,
                    or_(and_(M.status.in_(("pending", "retry")), M.next_attempt_at <= now),
                        and_(M.status == "sending", M.claimed_at < stale)))

    def _allowed(self):
        """SQL: may this row's message go out now (re-checked at send time, per channel)?"""
        if self.risk is None:
            suitable = M.id.is_(None)
        else:
            suitable = or_(*[and_(M.channel == channel,
                                  gate.passes(self.risk, [channel], self.today, self.validity))
                             for channel in MESSAGE_CHANNELS])
        return and_(suitable, Customer.status == "active", Campaign.status == "running",
                    or_(Campaign.end_on.is_(None), Campaign.end_on >= self.today),
                    CampaignTarget.target_group == "target")

    def claim(self) -> tuple[str, list[_Claimed]]:
        token, claimed = self.claim_ids(self._due(self.clock()))
        if not claimed:
            return token, []
        rows = self.session.execute(
            select(M.id, M.channel, M.attempts, M.target_id, Customer,
                   self._allowed().label("allowed"))
            .join(Customer, Customer.id == M.customer_id)
            .join(CampaignTarget, CampaignTarget.id == M.target_id)
            .join(Campaign, Campaign.id == M.campaign_id)
            .where(M.id.in_(claimed), M.claim_token == token, M.status == "sending")
            .order_by(M.id)).all()
        # Plain values now (decrypted once): every commit below expires ORM objects.
        result = [_Claimed(pk, channel, attempts, target_id, c.id, c.name, c.email, c.mobile,
                           bool(ok)) for pk, channel, attempts, target_id, c, ok in rows]
        self.session.commit()
        return token, result

    # --- one message ---------------------------------------------------------------------

    def send_one(self, token: str, row: _Claimed) -> str:
        now = self.clock()
        later = quiet.defer_until(now, row.channel, self.tz)
        if later is not None:
            return self._release(token, row.id, "retry", later, None, undo_attempt=True,
                                 outcome="deferred")
        body = render(self.template, {**self.values, "name": row.name})
        subject = render(DEFAULT_SUBJECT, self.values)[:200]
        try:
            prepared = self._prepare(row, subject, body, f"campaign-{row.id}")
        except SendError as exc:
            return self._fail(token, row.id, row.attempts, str(exc),
                              final=isinstance(exc, MissingContact))
        if not self._commit_sent(token, row.id, now, subject=subject, body=body):
            prepared.abort()
            return "lost_claim"
        sent = _Sent(row.id, row.target_id, row.customer_id, row.channel, now, subject, body)
        try:
            prepared.finish()
        except Unconfirmed as exc:
            self.to_log.append(sent)
            self._note(row.id, f"delivery unconfirmed: {exc}")
            return "unconfirmed"
        except SendError as exc:
            self._undo_sent(row.id)
            return self._fail(None, row.id, row.attempts, str(exc), final=False)
        self.to_log.append(sent)
        return "sent"

    def _prepare(self, row: _Claimed, subject: str, body: str, message_id: str):
        sender = self.channels.get(row.channel)
        if sender is None:
            raise MissingContact(f"unknown channel {row.channel}")
        address = sender.address({"email": row.email, "mobile": row.mobile})
        return sender.prepare(address, subject, body, message_id)

    # --- the record of what went out -----------------------------------------------------

    def write_log(self) -> None:
        sent, self.to_log = self.to_log, []
        if sent:
            _log_sent(self.session, sent)
            self.session.commit()

    def log_unlogged(self) -> None:
        """Log what a killed worker sent but did not log (rows ``sent`` past their lease)."""
        stale = self.clock() - self.opts["lease"]
        rows = self.session.execute(
            select(M.id, M.target_id, M.customer_id, M.channel, M.sent_at, M.subject, M.body)
            .where(M.campaign_id == self.campaign_id, M.status == "sent",
                   M.interaction_id.is_(None), M.sent_at < stale)).all()
        if rows:
            _log_sent(self.session, [_Sent(*row[:5], row[5] or "", row[6] or "")
                                     for row in rows])
            self.session.commit()


def _log_sent(session, sent: list[_Sent]) -> None:
    """Outbound interactions for sent messages, linked back; their targets are contacted."""
    pairs = []
    for item in sent:
        interaction = Interaction(
            customer_id=item.customer_id, staff_id=None, occurred_at=item.sent_at,
            channel=item.channel, direction="outbound", topic="marketing", custom_fields={},
            summary=f"[{item.subject}] {item.body}"[:2000])
        session.add(interaction)
        pairs.append((item, interaction))
    session.flush()
    session.execute(update(M), [{"id": item.message_id, "interaction_id": interaction.id}
                                for item, interaction in pairs])
    session.execute(update(CampaignTarget), [
        {"id": item.target_id, "contacted_at": item.sent_at} for item, _ in pairs])
