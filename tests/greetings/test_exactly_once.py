"""Exactly-once under crashes: real forking RQ workers SIGKILLed at random points.

Each of 20 runs is one day with its own birthday customers (half by e-mail to a real aiosmtpd
server, half by SMS to a real HTTP gateway). The run's job is enqueued (on odd runs twice, worked
by two worker processes at once), the worker process group is killed with SIGKILL at a random
point — while booting, between messages, in the middle of one — and then the next scheduled run
(a fresh job, a fresh worker) finishes the day. Afterwards every customer has exactly one message:
0 duplicates, 0 missed.
"""
from __future__ import annotations

import datetime as dt
import json
import base64
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import delete, select

from backoffice.audit import chain_key
from backoffice.extensions import db
from jobs.queue import enqueue, redis_connection
from models import Customer, GreetingDispatch, GreetingTemplate, JobRun, Occasion
from tests.conftest import _TEST_KEYS, make_test_config
from tests.greetings.conftest import make_customers
from tests.greetings.servers import SmsGateway, SmtpServer
from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
RUNS = 20
PER_CHANNEL = 3
OCCASION = "kill_test_birthday"
LEASE_SECONDS = 2


def _midday_zone() -> str:
    """A fixed-offset zone where it is about noon now, so quiet hours never defer the SMS."""
    offset = (12 - dt.datetime.now(dt.timezone.utc).hour) % 24
    if offset > 12:
        offset -= 24
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def crash_rig(app, world, database_url):
    from backoffice import create_app

    redis_url = services.require_redis()
    smtp, gateway = SmtpServer(delay=0.03).start(), SmsGateway().start()
    queue_name = f"crm-greet-{uuid.uuid4().hex}"
    settings = dict(
        REDIS_URL=redis_url, CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=120,
        CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port, CRM_SMS_GATEWAY_URL=gateway.url,
        CRM_GREETING_LEASE_SECONDS=LEASE_SECONDS, CRM_GREETING_BATCH=2,
        CRM_DISPLAY_TIMEZONE=_midday_zone(),
    )
    job_app = create_app(make_test_config(database_url, **settings))
    made: list[int] = []
    with job_app.app_context():
        occasion = Occasion(code=OCCASION, name="生日", kind="birthday", lead_days=0,
                            channel_order="email,sms", active=True)
        db.session.add(occasion)
        db.session.flush()
        db.session.add(GreetingTemplate(occasion_id=occasion.id, language="zh",
                                        subject="生日快乐", body="{name}{title}，生日快乐！"))
        db.session.commit()
        before = db.session.scalar(select(JobRun.id).order_by(JobRun.id.desc()).limit(1)) or 0
        yield job_app, smtp, gateway, settings, made
        db.session.rollback()
        db.session.execute(delete(GreetingDispatch).where(
            GreetingDispatch.occasion_id == occasion.id))
        from models import Interaction
        from models.consent import Consent

        for model in (Interaction, Consent):
            db.session.execute(delete(model).where(model.customer_id.in_(made)))
        db.session.execute(delete(Customer).where(Customer.id.in_(made)))
        db.session.execute(delete(Occasion).where(Occasion.id == occasion.id))
        db.session.execute(delete(JobRun).where(JobRun.id > before))
        db.session.commit()
        db.session.remove()
    smtp.stop()
    gateway.stop()
    connection = redis_connection(redis_url)
    Queue(queue_name, connection=connection).delete(delete_jobs=True)
    keys = list(connection.scan_iter(match=f"*{queue_name}*", count=1000))
    if keys:
        connection.delete(*keys)


def _worker(app, settings) -> subprocess.Popen:
    """``flask crm worker --burst`` (a forking RQ worker) in a process group of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not k.startswith("CRM_")}
    env.update(CRM_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY="worker-test-secret",
               CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
               CRM_AUDIT_CHAIN_KEY=base64.b64encode(app.extensions[chain_key.EXTENSION]).decode())
    for key, value in {**settings, **_TEST_KEYS}.items():
        env[key] = value if isinstance(value, str) else json.dumps(value)
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker", "--burst"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def _received(smtp, gateway) -> Counter:
    return Counter([m["to"] for m in smtp.recorder.snapshot()]
                   + [m["mobile"] for m in gateway.recorder.snapshot()])


def _kill_at_random_point(workers, smtp, gateway, rng) -> str:
    """SIGKILL every worker's process group once k messages arrived, or after a random time."""
    start_count = sum(_received(smtp, gateway).values())
    target = rng.randint(0, 2 * PER_CHANNEL)
    deadline = time.monotonic() + (rng.uniform(0.5, 4.0) if target == 0 else 30)
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        if target and sum(_received(smtp, gateway).values()) - start_count >= target:
            time.sleep(rng.uniform(0, 0.03))  # anywhere inside the next message
            break
        time.sleep(0.002)
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()
    return f"after {target} messages" if target else "at a random time"


def test_killed_workers_and_duplicate_jobs_never_send_twice_nor_miss_anyone(crash_rig):
    """20 runs of kills and duplicate enqueues: 0 duplicate sends, 0 missed customers."""
    job_app, smtp, gateway, settings, made = crash_rig
    rng = random.Random(int(os.environ.get("CRM_CRASH_SEED", "8")))
    days = [dt.date(2026, 7, 1) + dt.timedelta(days=i) for i in range(RUNS)]
    expected: dict[dt.date, list[str]] = {}
    with job_app.app_context():
        world_like = type("W", (), {})()
        from tests.support.world import World  # noqa: F401 - the shared world's shape

        world_like.branches = {"B1": _branch_id()}
        world_like.staff = {"rm1": _staff_id("rm1")}
        for day in days:
            birth = day.replace(year=1985)
            ids = (make_customers(db.session, world_like, PER_CHANNEL, birth=birth,
                                  channel="email", prefix="K")
                   + make_customers(db.session, world_like, PER_CHANNEL, birth=birth,
                                    channel="sms", prefix="K"))
            made.extend(ids)
            rows = db.session.scalars(select(Customer).where(Customer.id.in_(ids))).all()
            expected[day] = sorted([c.email for c in rows[:PER_CHANNEL]]
                                   + [c.mobile for c in rows[PER_CHANNEL:]])

        kills = []
        for number, day in enumerate(days):
            twice = number % 2 == 1
            for _ in range(2 if twice else 1):
                enqueue("jobs.greetings.send_daily", day.isoformat(), None, [OCCASION])
            workers = [_worker(job_app, settings) for _ in range(2 if twice else 1)]
            kills.append(_kill_at_random_point(workers, smtp, gateway, rng))
            time.sleep(LEASE_SECONDS + 0.2)  # the dead worker's claims expire
            enqueue("jobs.greetings.send_daily", day.isoformat(), None, [OCCASION])
            finisher = _worker(job_app, settings)
            assert finisher.wait(timeout=300) == 0

        received = _received(smtp, gateway)
        duplicates = {k: n for k, n in received.items() if n > 1}
        wanted = [address for day in days for address in expected[day]]
        missed = [address for address in wanted if received[address] == 0]
        statuses = Counter(db.session.scalars(select(GreetingDispatch.status).join(Occasion)
                                              .where(Occasion.code == OCCASION)))
        # Every send is logged once, also those whose worker died before the batch's log write
        # (the next run logs them from the dispatch row).
        from models import Interaction

        logged = Counter(db.session.scalars(select(Interaction.customer_id).where(
            Interaction.customer_id.in_(made), Interaction.topic == "greeting")))
        unlinked = db.session.scalar(select(db.func.count(GreetingDispatch.id)).join(Occasion)
                                     .where(Occasion.code == OCCASION,
                                            GreetingDispatch.interaction_id.is_(None)))
    assert duplicates == {}, f"sent twice: {duplicates} (kills: {kills})"
    assert missed == [], f"never sent: {missed} (kills: {kills})"
    assert statuses == {"sent": len(wanted)}
    assert unlinked == 0 and set(logged.values()) == {1} and len(logged) == len(wanted)
    assert len(wanted) == RUNS * 2 * PER_CHANNEL


def _branch_id() -> int:
    from models import Branch

    return db.session.scalar(select(Branch.id).where(Branch.code == "B1"))


def _staff_id(username: str) -> int:
    from models import Staff

    return db.session.scalar(select(Staff.id).where(Staff.username == username))
