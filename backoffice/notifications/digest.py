"""The daily digest: one e-mail per member of staff and day, with what they have not read.

Exactly once per (member of staff, day in the display zone), however often the job runs and
wherever it dies: the day's row in ``notification_digest`` is unique, and it is sent through the
two-phase protocol of ``backoffice.messaging`` (claimed, committed ``sent`` in its own
transaction before the message's last byte leaves, then finished), the same ledger the greetings
use. A worker killed before that commit leaves a row ``sending`` whose message provably did not
arrive; after its lease another run takes it up.

A row is made for the day only when the digest is due (the member's time has passed) and
something unread arrived since the last digest, so a run every hour sends each member's digest
at their hour, or later that day when the first notice comes. "Since the last digest" is
``id > upto_id`` of the last one sent, not ``emailed_at``: a digest that went out but was not
stamped still counts as sent.

What each notice may say is decided for the recipient, under their record scope, as on the
page (``privacy``); the e-mail is written in the language of their setting.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, literal, or_, select, update

from backoffice.messaging.delivery import SendError, Unconfirmed
from backoffice.messaging.ledger import ClaimedSends
from backoffice.notifications import preferences, privacy
from backoffice.security.scopes import as_scope, scope_for_user
from models.base import utcnow
from models.notifications import Notification, NotificationDigest, NotificationPreference
from models.org import Staff

D, N, P = NotificationDigest, Notification, NotificationPreference
OPTIONS = {"batch": 20, "retry": 300.0, "max_attempts": 5}
LISTED = 50  # notices written out in one e-mail; the rest are counted


def run(session, config, *, now: dt.datetime | None = None, channel=None, progress=None,
        opts: dict | None = None) -> dict:
    """Make today's due digest rows and send every row that is due; returns counts.

    ``now`` (naive UTC) fixes the clock (tests, replays); ``channel`` replaces the SMTP channel
    made from ``config`` (``CRM_SMTP_*``)."""
    clock = (lambda: now) if now is not None else utcnow
    zone = ZoneInfo(config["CRM_DISPLAY_TIMEZONE"])
    local = clock().replace(tzinfo=dt.timezone.utc).astimezone(zone)
    summary = {"day": local.date().isoformat(), "scheduled": 0, "sent": 0, "empty": 0,
               "retrying": 0, "failed": 0, "unconfirmed": 0, "lost_claim": 0}
    if channel is None:
        if not config.get("CRM_SMTP_HOST"):
            summary["skipped"] = "no SMTP server configured (CRM_SMTP_HOST)"
            return summary
        from backoffice.messaging.channels.mail import SmtpChannel

        channel = SmtpChannel(config)
    summary["scheduled"] = schedule(session, local.date(), local.time().replace(tzinfo=None),
                                    clock())
    lease = dt.timedelta(seconds=float(config["CRM_NOTIFICATION_DIGEST_LEASE_SECONDS"]))
    Sender(session, config, channel, clock, zone, {**OPTIONS, "lease": lease, **(opts or {})},
           progress).run(summary)
    return summary


def last_sent_upto(staff_column):
    """SQL: the newest notification id a sent digest of this member covered (0 if none)."""
    return (select(func.coalesce(func.max(D.upto_id), 0))
            .where(D.staff_id == staff_column, D.status == "sent").scalar_subquery())


def schedule(session, day: dt.date, local_time: dt.time, now: dt.datetime) -> int:
    """Insert the day's row for every member whose digest is due and has something new."""
    due_time = P.digest_time <= local_time
    if local_time >= preferences.DEFAULT_TIME:  # no time chosen: the default time
        due_time = or_(P.digest_time.is_(None), due_time)
    news = exists().where(N.recipient_id == P.staff_id, N.read_at.is_(None),
                          N.id > last_sent_upto(P.staff_id))
    already = exists().where(D.staff_id == P.staff_id, D.day == day)
    rows = (select(P.staff_id, literal(day, D.day.type), literal(0), literal("pending"),
                   literal(0), literal(now, D.next_attempt_at.type),
                   literal(now, D.created_at.type))
            .join(Staff, Staff.id == P.staff_id)
            .where(P.digest == preferences.DAILY, due_time, Staff.active.is_(True),
                   Staff.email.is_not(None), news, ~already))
    columns = ["staff_id", "day", "count", "status", "attempts", "next_attempt_at", "created_at"]
    # Two runs at once both see no row: the unique (member, day) keeps one, the other's insert
    # is ignored rather than failing.
    statement = _insert(session)(D).from_select(columns, rows).on_conflict_do_nothing(
        index_elements=["staff_id", "day"])
    created = session.execute(statement.returning(D.id)).all()
    session.commit()
    return len(created)


def _insert(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class Sender(ClaimedSends):
    """Claims due digest rows batch by batch and sends each as one e-mail."""

    model = D

    def __init__(self, session, config, channel, clock, zone, opts, progress=None):
        self.session, self.config, self.channel = session, config, channel
        self.clock, self.zone, self.opts, self.progress = clock, zone, opts, progress
        self.done = 0

    def _due(self, now):
        stale = now - self.opts["lease"]
        return or_(and_(D.status.in_(("pending", "retry")), D.next_attempt_at <= now),
                   and_(D.status == "sending", D.claimed_at < stale))

    def run(self, summary: dict) -> None:
        try:
            while True:
                token, ids = self.claim_ids(self._due(self.clock()))
                if not ids:
                    break
                for row_id in ids:
                    outcome = self.send_one(token, row_id)
                    summary[outcome] = summary.get(outcome, 0) + 1
                    self.done += 1
                    if self.progress is not None:
                        self.progress.update(self.done, message=_l("Sending digests"))
        finally:
            quit_ = getattr(self.channel, "quit", None)
            if quit_ is not None:
                quit_()
            self.close_ledger()

    def send_one(self, token: str, row_id: int) -> str:
        row = self.session.get(D, row_id)
        staff = self.session.get(Staff, row.staff_id)
        attempts, staff_id = row.attempts, row.staff_id
        if staff is None or not staff.active or not staff.email:
            return self._fail(token, row_id, attempts, "no active user with an e-mail address",
                              final=True)
        items = self.session.scalars(
            select(N).where(N.recipient_id == staff.id, N.read_at.is_(None),
                            N.id > last_sent_upto(staff.id))
            .order_by(N.id.desc())).all()
        if not items:  # read on the page since the row was made
            return self._release(token, row_id, "empty", self.clock(), None, outcome="empty")
        subject, body = self.compose(staff, items)
        upto, email = items[0].id, staff.email
        self.session.commit()  # no read transaction open while the ledger connection writes
        now = self.clock()
        try:
            prepared = self.channel.prepare(email, subject, body, f"digest-{row_id}")
        except SendError as exc:
            return self._fail(token, row_id, attempts, str(exc), final=False)
        if not self._commit_sent(token, row_id, now, upto_id=upto, count=len(items)):
            prepared.abort()
            return "lost_claim"
        try:
            prepared.finish()
        except Unconfirmed as exc:
            self._note(row_id, f"delivery unconfirmed: {exc}")
            self._stamp(staff_id, upto, now)
            return "unconfirmed"
        except SendError as exc:
            self._undo_sent(row_id)
            return self._fail(None, row_id, attempts, str(exc), final=False)
        self._stamp(staff_id, upto, now)
        return "sent"

    def _stamp(self, staff_id: int, upto: int, now) -> None:
        """``emailed_at`` on what the digest covered (for the page; not what decides)."""
        self.ledger().execute(update(N).where(N.recipient_id == staff_id, N.id <= upto,
                                              N.emailed_at.is_(None)).values(emailed_at=now))

    def compose(self, staff, items) -> tuple[str, str]:
        """Subject and body in the member's language, under the member's record scope."""
        setting = self.session.get(P, staff.id)
        language = (setting.language if setting is not None else None) \
            or self.config.get("BABEL_DEFAULT_LOCALE", "zh")
        with force_locale(language), as_scope(scope_for_user(staff)):
            shown = privacy.shown(self.session, items[:LISTED])
            subject = gettext("Your notifications: %(count)s unread", count=len(items))
            lines = [gettext("Hello %(name)s,", name=str(staff)), "",
                     gettext("You have %(count)s unread notifications:", count=len(items)), ""]
            base = (self.config.get("CRM_BASE_URL") or "").rstrip("/")
            for item in shown:
                when = item.created_at.replace(tzinfo=dt.timezone.utc).astimezone(self.zone)
                lines.append(f"- {when:%Y-%m-%d %H:%M} [{item.label}] {item.text}")
                if item.link:
                    lines.append(f"  {base}{item.link}")
            if len(items) > LISTED:
                lines.append(gettext("… and %(count)s more.", count=len(items) - LISTED))
            page, setting = f"{base}/notifications/", f"{base}/notifications/settings"
            lines += ["", gettext("Read them all: %(link)s", link=page),
                      gettext("Change or stop this digest: %(link)s", link=setting)]
        return subject, "\n".join(lines) + "\n"
