"""Exactly once under real kills: ``flask crm notifications digest`` processes SIGKILLed at
random points (between messages, inside one), then run again until the day is done.

The SMTP server is aiosmtpd with a small delay per message, so kills land inside a message as
well as between them. Afterwards no member has two digests, and every member's day is ``sent``.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.audit import chain_key
from backoffice.extensions import db
from models.notifications import NotificationDigest, NotificationPreference
from tests.conftest import _TEST_KEYS
from tests.greetings.servers import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 6
ROUNDS = 4
LEASE_SECONDS = 1


def _digest_process(app, smtp) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not k.startswith("CRM_")}
    env.update(CRM_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY="digest-test-secret",
               CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
               CRM_AUDIT_CHAIN_KEY=base64.b64encode(app.extensions[chain_key.EXTENSION]).decode())
    settings = {"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port,
                "CRM_NOTIFICATION_DIGEST_LEASE_SECONDS": LEASE_SECONDS}
    for key, value in {**settings, **_TEST_KEYS}.items():
        env[key] = value if isinstance(value, str) else json.dumps(value)
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "notifications", "digest"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def test_killed_digest_runs_never_send_twice(app, make_staff, raise_notice):
    smtp = SmtpServer(delay=0.05).start()
    rng = random.Random(20261207)
    members = {}
    try:
        for _ in range(MEMBERS):
            staff_id, username = make_staff("RelationshipManager", "B1")
            raise_notice([staff_id], "rule", _l("Rule fired"))
            members[staff_id] = f"{username}@example.com"
        with app.app_context():
            db.session.add_all([NotificationPreference(staff_id=staff_id, digest="daily",
                                                       digest_time=dt.time(0, 0))
                                for staff_id in members])
            db.session.commit()
            db.session.remove()

        def received() -> Counter:
            return Counter(m["to"] for m in smtp.recorder.snapshot() if m["to"] in
                           members.values())

        for _ in range(ROUNDS):
            before = sum(received().values())
            process = _digest_process(app, smtp)
            target = rng.randint(0, 3)
            deadline = time.monotonic() + (rng.uniform(0.5, 3.0) if target == 0 else 30)
            while time.monotonic() < deadline and process.poll() is None:
                if target and sum(received().values()) - before >= target:
                    time.sleep(rng.uniform(0, 0.05))  # anywhere inside the next message
                    break
                time.sleep(0.005)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            time.sleep(LEASE_SECONDS + 0.2)  # what a dead run left "sending" may be taken up
        final = _digest_process(app, smtp)
        assert final.wait(timeout=120) == 0
        counts = received()
        assert max(counts.values(), default=0) <= 1, counts
        with app.app_context():
            statuses = dict(db.session.execute(select(
                NotificationDigest.staff_id, NotificationDigest.status).where(
                NotificationDigest.staff_id.in_(list(members)))).all())
            db.session.remove()
        assert statuses == {staff_id: "sent" for staff_id in members}, statuses
        # A message may be lost only in the one window between the commit and the last byte.
        assert sum(counts.values()) >= MEMBERS - ROUNDS
    finally:
        smtp.stop()
