"""Sending deliveries: claim what is due, sign it now, POST it, record what came back.

Rows are claimed with the send ledger of ``backoffice.messaging.ledger`` (one UPDATE stamping a
claim token and a lease), so any number of workers, a cron sweep and a job for one delivery can
run at once and a row is sent by one of them. A row ``sending`` whose lease has expired was left
by a dead worker and is taken again.

Webhooks are delivered at least once, not exactly once: the answer to a POST can be lost after
the receiver acted on it, and only another POST finds out. Receivers deduplicate by the body's
``event``/``event_id`` or the ``X-CRM-Delivery`` header. Each attempt is signed with the time it
is sent (``signing``), and recorded (``webhook_attempt``) with the response code or the error.

Outcomes: a 2xx answer delivers; a timeout, a connection failure, a 5xx, 408 or 429 is retried
after ``CRM_WEBHOOK_RETRY_SECONDS`` × 2^(attempt-1), up to ``CRM_WEBHOOK_MAX_ATTEMPTS``; any
other answer (a 4xx, a redirect to another host) fails at once, since sending the same bytes
again would get the same answer; an admin can replay it once the receiver is fixed. A delivery
of a disabled webhook is cancelled. The secret is used here and never logged.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update

from backoffice.messaging.ledger import ClaimedSends
from backoffice.webhooks import signing, transport
from models.base import utcnow
from models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)
D = WebhookDelivery
RETRIED_CODES = frozenset({408, 429})
DELIVERY_HEADER = "X-CRM-Delivery"
EVENT_HEADER = "X-CRM-Event"


def settings(config) -> dict:
    return {
        "lease": dt.timedelta(seconds=float(config["CRM_WEBHOOK_LEASE_SECONDS"])),
        "batch": int(config["CRM_WEBHOOK_BATCH"]),
        "retry": float(config["CRM_WEBHOOK_RETRY_SECONDS"]),
        "max_attempts": int(config["CRM_WEBHOOK_MAX_ATTEMPTS"]),
        "timeout": float(config["CRM_WEBHOOK_TIMEOUT"]),
    }


class Sender(ClaimedSends):
    """Sends due deliveries (all of them, or the ones named) batch by batch."""

    model = D

    def __init__(self, session, config, clock=utcnow, only_ids=None):
        self.session, self.clock = session, clock
        self.opts = settings(config)
        self.only_ids = list(only_ids) if only_ids is not None else None

    def _due(self, now):
        stale = now - self.opts["lease"]
        due = or_(and_(D.status.in_(("pending", "retry")), D.next_attempt_at <= now),
                  and_(D.status == "sending", D.claimed_at < stale))
        if self.only_ids is not None:
            due = and_(due, D.id.in_(self.only_ids))
        return due

    def run(self) -> dict:
        summary = {"delivered": 0, "retrying": 0, "failed": 0, "cancelled": 0,
                   "lost_claim": 0}
        while True:
            token, ids = self.claim_ids(self._due(self.clock()))
            if not ids:
                return summary
            for delivery_id in ids:
                outcome = self.send_one(token, delivery_id)
                summary[outcome] = summary.get(outcome, 0) + 1

    def send_one(self, token: str, delivery_id: int) -> str:
        row = self.session.execute(
            select(D.id, D.record_uid, D.body_enc, D.attempts, D.event_name, D.event_id,
                   Webhook.url, Webhook.active, Webhook.secret_enc, Webhook.record_uid
                   .label("webhook_uid"))
            .join(Webhook, Webhook.id == D.webhook_id)
            .where(D.id == delivery_id, D.claim_token == token)).one_or_none()
        if row is None:
            return "lost_claim"
        if not row.active:
            return self._release(token, delivery_id, "cancelled", self.clock(),
                                 "the webhook is disabled", outcome="cancelled")
        delivery = _Plain(row)
        self.session.commit()
        started = self.clock()
        try:
            answer = transport.post(row.url, delivery.body, {
                **signing.headers(delivery.secret, delivery.body, now=_epoch(started)),
                DELIVERY_HEADER: row.record_uid, EVENT_HEADER: row.event_name},
                self.opts["timeout"])
        except transport.TransportError as exc:
            self._attempt(delivery_id, row.attempts, started, None, str(exc))
            return self._fail(token, delivery_id, row.attempts, str(exc), final=False)
        self._record_answer(delivery_id, answer)
        if 200 <= answer.status < 300 and not answer.redirect_refused:
            self._attempt(delivery_id, row.attempts, started, answer.status, None)
            return self._delivered(token, delivery_id)
        error = _refusal(answer)
        self._attempt(delivery_id, row.attempts, started, answer.status, error)
        final = answer.redirect_refused is not None or (
            400 <= answer.status < 500 and answer.status not in RETRIED_CODES)
        return self._fail(token, delivery_id, row.attempts, error, final=final)

    def _attempt(self, delivery_id, number, started, code, error) -> None:
        self.session.add(WebhookAttempt(delivery_id=delivery_id, number=number,
                                        started_at=started, response_code=code,
                                        error=error[:500] if error else None))

    def _record_answer(self, delivery_id, answer) -> None:
        self.session.execute(update(D).where(D.id == delivery_id).values(
            response_code=answer.status, response_excerpt=answer.excerpt[:500] or None),
            execution_options={"synchronize_session": False})

    def _delivered(self, token, delivery_id) -> str:
        changed = self.session.execute(
            update(D).where(D.id == delivery_id, D.claim_token == token,
                            D.status == "sending")
            .values(status="delivered", sent_at=self.clock(), claim_token=None,
                    next_attempt_at=None, last_error=None),
            execution_options={"synchronize_session": False})
        self.session.commit()
        return "delivered" if changed.rowcount == 1 else "lost_claim"


class _Plain:
    """The delivery's body and the webhook's secret, opened (kept out of reprs and logs)."""

    __slots__ = ("body", "secret")

    def __init__(self, row):
        from models import crypto
        from models.webhooks import BODY

        self.body = crypto.decrypt(row.body_enc, BODY.aad(row.record_uid)).encode("utf-8")
        spec = crypto.field_spec("webhook", "secret")
        self.secret = crypto.decrypt(row.secret_enc, spec.aad(row.webhook_uid))

    def __repr__(self) -> str:
        return "<delivery body and secret>"


def _epoch(moment: dt.datetime) -> float:
    """A naive UTC time (what the clock and the columns hold) as seconds since the epoch."""
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _refusal(answer) -> str:
    if answer.redirect_refused:
        return f"HTTP {answer.status}: redirect to {answer.redirect_refused} not followed"
    return f"HTTP {answer.status}"


def send_due(session, config, only_ids=None, clock=utcnow) -> dict:
    """Send every due delivery (or those of ``only_ids`` that are due)."""
    return Sender(session, config, clock, only_ids).run()
