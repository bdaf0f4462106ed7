"""The daily digest: one e-mail per member of staff and day, through a real SMTP server.

The server is aiosmtpd on 127.0.0.1: it records a message only after its end-of-data line, as
real servers do, so a sender that dies before that line delivers nothing.
"""
from __future__ import annotations

import datetime as dt

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.notifications import digest
from models.base import utcnow
from models.notifications import Notification, NotificationDigest, NotificationPreference


class Killed(BaseException):
    """A worker dying at this point (not an error the sender could handle)."""


@pytest.fixture
def smtp_config(app, smtp_server):
    app.config.update({"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp_server.port,
                       "CRM_SMTP_TLS": "none"})
    return smtp_server


@pytest.fixture
def subscriber(app, make_staff):
    """``subscriber(role, branch)``: a member with the daily digest at 00:00 (always due)."""

    def _make(role="RelationshipManager", branch="B1", language="zh"):
        staff_id, username = make_staff(role, branch)
        with app.app_context():
            db.session.add(NotificationPreference(staff_id=staff_id, digest="daily",
                                                  digest_time=dt.time(0, 0), language=language))
            db.session.commit()
            db.session.remove()
        return staff_id, f"{username}@example.com"

    return _make


def _run(app, now=None, **options):
    with app.app_context():
        result = digest.run(db.session, app.config, now=now, **options)
        db.session.remove()
    return result


def _mails(server, address):
    return [m for m in server.recorder.snapshot() if m["to"] == address]


def test_one_mail_per_day_however_often_the_job_runs(app, smtp_config, subscriber,
                                                     raise_notice):
    me, address = subscriber(language="en")
    raise_notice([me], "rule", _l("Rule notification %(n)s", n="first-5521"))
    raise_notice([me], "import_finished", _l("Import %(file)s failed.", file="f-5521.xlsx"))
    for _ in range(3):
        _run(app)
    [mail] = _mails(smtp_config, address)
    assert "first-5521" in mail["body"] and "f-5521.xlsx" in mail["body"]
    assert "Your notifications: 2 unread" == mail["subject"]
    assert "/notifications/" in mail["body"]
    # Something new the same day waits for tomorrow's digest.
    raise_notice([me], "rule", _l("Rule notification %(n)s", n="second-5521"))
    _run(app)
    assert len(_mails(smtp_config, address)) == 1
    tomorrow = utcnow() + dt.timedelta(days=1)
    _run(app, now=tomorrow)
    _run(app, now=tomorrow)
    mails = _mails(smtp_config, address)
    assert len(mails) == 2
    assert "second-5521" in mails[1]["body"] and "first-5521" not in mails[1]["body"]
    with app.app_context():
        stamped = db.session.scalars(select(Notification.emailed_at).where(
            Notification.recipient_id == me)).all()
        assert all(stamped)
        db.session.remove()


def test_nothing_unread_or_digest_off_sends_nothing(app, smtp_config, subscriber, make_staff,
                                                    raise_notice):
    reader, reader_address = subscriber()
    [notice] = raise_notice([reader], "rule", _l("Rule fired"))
    with app.app_context():
        db.session.get(Notification, notice).read_at = utcnow()
        db.session.commit()
        db.session.remove()
    off, off_name = make_staff("RelationshipManager", "B1")
    raise_notice([off], "rule", _l("Rule fired"))
    _run(app)
    assert _mails(smtp_config, reader_address) == []
    assert _mails(smtp_config, f"{off_name}@example.com") == []


def test_a_digest_is_not_sent_before_its_time(app, smtp_config, subscriber, raise_notice):
    me, address = subscriber()
    with app.app_context():
        db.session.get(NotificationPreference, me).digest_time = dt.time(9, 0)
        db.session.commit()
        db.session.remove()
    raise_notice([me], "rule", _l("Rule fired"))
    day = dt.datetime(2031, 5, 6)
    _run(app, now=day + dt.timedelta(hours=0, minutes=30))  # 08:30 in Shanghai
    assert _mails(smtp_config, address) == []
    _run(app, now=day + dt.timedelta(hours=1, minutes=5))  # 09:05 in Shanghai
    assert len(_mails(smtp_config, address)) == 1


def test_a_worker_killed_before_the_commit_is_finished_by_the_next_run(app, smtp_config,
                                                                     subscriber, raise_notice,
                                                                     monkeypatch):
    """Killed after sending everything but the last line, before committing ``sent``: nothing
    arrived, and the next run after the lease sends it, once."""
    me, address = subscriber()
    raise_notice([me], "rule", _l("Rule notification %(n)s", n="killed-8120"))
    channel = None
    real_commit = digest.Sender._commit_sent

    def die(self, *args, **kwargs):
        nonlocal channel
        channel = self.channel
        raise Killed()

    monkeypatch.setattr(digest.Sender, "_commit_sent", die)
    with pytest.raises(Killed):
        _run(app)
    channel.close()  # the process is gone: its connection drops mid-DATA
    monkeypatch.setattr(digest.Sender, "_commit_sent", real_commit)
    assert _mails(smtp_config, address) == []
    _run(app)  # within the lease: the row is still the dead worker's
    assert _mails(smtp_config, address) == []
    _run(app, now=utcnow() + dt.timedelta(minutes=10))
    _run(app, now=utcnow() + dt.timedelta(minutes=20))
    [mail] = _mails(smtp_config, address)
    assert "killed-8120" in mail["body"]


def test_a_worker_killed_after_the_commit_never_sends_twice(app, smtp_config, subscriber,
                                                           raise_notice, monkeypatch):
    """Killed between committing ``sent`` and the last line: the one window where a message can
    be lost; it is never sent a second time."""
    me, address = subscriber()
    raise_notice([me], "rule", _l("Rule fired"))
    from backoffice.messaging.channels.mail import SmtpChannel

    real_prepare = SmtpChannel.prepare

    def prepare_then_die(self, *args, **kwargs):
        prepared = real_prepare(self, *args, **kwargs)

        def finish():
            self.close()
            raise Killed()

        prepared._finish = finish
        return prepared

    monkeypatch.setattr(SmtpChannel, "prepare", prepare_then_die)
    with pytest.raises(Killed):
        _run(app)
    monkeypatch.setattr(SmtpChannel, "prepare", real_prepare)
    for minutes in (0, 10, 60 * 24 - 1):
        _run(app, now=utcnow() + dt.timedelta(minutes=minutes))
    assert _mails(smtp_config, address) == []
    with app.app_context():
        [row] = db.session.scalars(select(NotificationDigest).where(
            NotificationDigest.staff_id == me)).all()
        assert row.status == "sent"
        db.session.remove()


def test_an_unreachable_server_is_retried_then_sent_once(app, smtp_server, subscriber,
                                                         raise_notice):
    me, address = subscriber()
    raise_notice([me], "rule", _l("Rule fired"))
    app.config.update({"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": 1})  # nothing listens
    result = _run(app)
    assert result["retrying"] >= 1
    app.config.update({"CRM_SMTP_PORT": smtp_server.port})
    _run(app, now=utcnow() + dt.timedelta(minutes=30))
    _run(app, now=utcnow() + dt.timedelta(minutes=40))
    assert len(_mails(smtp_server, address)) == 1


def test_the_job_entry_point_runs_the_digest(app, smtp_config, subscriber, raise_notice):
    from jobs.queue import enqueue

    me, address = subscriber()
    raise_notice([me], "rule", _l("Rule fired"))
    with app.app_context():
        run = enqueue("jobs.notifications.send_digests")
        assert run.status == "finished", run.error
        db.session.remove()
    assert len(_mails(smtp_config, address)) == 1


def test_no_smtp_server_configured_sends_nothing_and_says_so(app, subscriber, raise_notice):
    app.config["CRM_SMTP_HOST"] = None
    me, _ = subscriber()
    raise_notice([me], "rule", _l("Rule fired"))
    result = _run(app)
    assert "CRM_SMTP_HOST" in result["skipped"]
    with app.app_context():
        assert db.session.scalars(select(NotificationDigest).where(
            NotificationDigest.staff_id == me)).all() == []
        db.session.remove()


def test_the_cli_command_sends_the_due_digests(app, smtp_config, subscriber, raise_notice):
    import json

    me, address = subscriber()
    raise_notice([me], "rule", _l("Rule fired"))
    result = app.test_cli_runner().invoke(args=["crm", "notifications", "digest"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sent"] >= 1
    assert len(_mails(smtp_config, address)) == 1
