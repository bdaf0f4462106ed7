"""Greetings at scale: the day's selection over N customers on PostgreSQL, and the dispatch
rate to a local SMTP server beside the bare SMTP send rate measured in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/greetings_dispatch.py \
        --customers 1000000 --database-url postgresql://postgres@127.0.0.1:5432/crm_bench

The database's public schema is DROPPED and rebuilt by the migrations; there is no default
database, and one holding customers that no benchmark loaded is refused. N customers are loaded
set-based (generate_series) with birthdays spread over the year and an e-mail greeting consent
each (2% closed); the day's birthday customers (N/365) are added through the ORM with real
field encryption, since their addresses are decrypted to send. Baseline for dispatch: the same
number of messages through ``smtplib`` on one connection, no database, no ledger.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import smtplib
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "greetings"))

DAY = dt.date(2027, 6, 15)


def reset(url: str) -> None:
    """Empty the public schema, refusing a database that holds customers no benchmark loaded."""
    from benchmarks._safety import reset_public_schema

    reset_public_schema(url)


def make_app(url: str, smtp_port: int):
    os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    from backoffice import create_app
    from models.crypto import KeyRing

    return create_app({**KeyRing.generate("bench").to_settings(),
                       "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "REDIS_URL": None,
                       "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp_port,
                       "CRM_GREETING_BATCH": 50})


def load(session, n: int) -> int:
    """N customers set-based, none born on DAY; then DAY's birthdays through the ORM."""
    from backoffice.messaging.consent import record_consent
    from models import Branch, Customer

    branch = Branch(code="BENCH", name="Benchmark branch")
    session.add(branch)
    session.commit()
    session.execute(text("""
        INSERT INTO customer (customer_no, name, customer_type, gender, birth_date, id_type,
            record_uid, id_number_enc, id_number_bidx, email_enc, branch_id, status,
            custom_fields, version, created_at, updated_at, onboarded_on, consent_sms,
            consent_email, consent_phone, consent_wechat, flag_elderly, flag_disability,
            flag_vip, tier)
        SELECT 'B' || lpad(g::text, 12, '0'), '客户' || g, 'individual',
               CASE WHEN g % 2 = 0 THEN 'M' ELSE 'F' END,
               CASE WHEN to_char(b, 'MM-DD') = :md THEN b + 1 ELSE b END,
               'PRC_ID', md5(g::text), 'bulk', md5('id' || g), 'bulk', :branch,
               CASE WHEN g % 50 = 0 THEN 'closed' ELSE 'active' END, '{}'::jsonb, 1,
               now(), now(), DATE '2010-01-01' + (g % 5000), false, true, false, false,
               false, false, false, 'mass'
        FROM (SELECT g, DATE '1950-01-01' + ((g::bigint * 7919) % 20000)::int AS b
              FROM generate_series(1, :n) AS g) AS s
    """), {"n": n, "branch": branch.id, "md": DAY.strftime("%m-%d")})
    session.execute(text("""
        INSERT INTO consent (customer_id, channel, purpose, granted, source, recorded_at)
        SELECT id, 'email', 'greeting', true, 'bench', now() FROM customer
    """))
    session.commit()
    due = max(1, n // 365)
    for i in range(due):
        customer = Customer(
            customer_no=f"D{i:012d}", name=f"寿星{i}", customer_type="individual",
            gender="F" if i % 2 else "M", birth_date=DAY.replace(year=1960 + i % 40),
            id_type="PRC_ID", id_number=f"11010119900101{i % 10000:04d}",
            email=f"bench{i}@example.com", branch_id=branch.id, status="active",
            custom_fields={}, tier="mass")
        session.add(customer)
        session.flush()
        record_consent(customer, "email", "greeting", source="bench")
        if i % 500 == 499:
            session.commit()
    session.commit()
    session.execute(text("ANALYZE"))
    return due


def bare_smtp_rate(port: int, count: int) -> float:
    """Messages per second through smtplib alone (one connection, same message size)."""
    from email.message import EmailMessage

    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(count):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "noreply@bank.example", f"b{i}@x.cn", "生日快乐"
            msg.set_content(f"尊敬的寿星{i}女士：祝您生日快乐，身体健康，万事如意！")
            conn.send_message(msg)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", help="a scratch PostgreSQL database "
                        "(or CRM_BENCH_DATABASE_URL); one holding customers is refused")
    args = parser.parse_args()
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL (the selection is measured "
                     "on PostgreSQL)")
    from servers import SmtpServer

    smtp = SmtpServer().start()
    reset(args.database_url)
    app = make_app(args.database_url, smtp.port)
    from flask_migrate import upgrade

    from backoffice.extensions import db
    from backoffice.greetings import selection
    from backoffice.messaging import quiet as calendar
    from backoffice.greetings.dispatch import Sender
    from models import Occasion

    with app.app_context():
        upgrade(revision="heads")
        started = time.perf_counter()
        due = load(db.session, args.customers)
        load_s = time.perf_counter() - started
        total = db.session.execute(text("SELECT count(*) FROM customer")).scalar()
        print(f"loaded {total:,} customers ({due:,} born on {DAY:%m-%d}) in {load_s:.1f} s")
        occasion = db.session.scalars(
            Occasion.__table__.select().where(Occasion.code == "birthday")).first()
        occasion = db.session.get(Occasion, occasion)
        occasion.channel_order = "email"
        db.session.commit()
        tz = calendar.zone(app.config)
        now = dt.datetime(2027, 6, 15, 2, 0)
        started = time.perf_counter()
        found = selection.select_occasion(db.session, occasion, DAY, now, tz)
        db.session.commit()
        select_s = time.perf_counter() - started
        print(f"selection over {total:,} customers: {select_s * 1000:.0f} ms "
              f"({found.selected:,} selected, skipped {found.skipped})")
        started = time.perf_counter()
        summary = {"sent": 0}
        sender = Sender(db.session, app.config, lambda: now, tz, [occasion.id])
        if os.environ.get("CRM_BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(sender.run, summary)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        else:
            sender.run(summary)
        send_s = time.perf_counter() - started
        sent = summary["sent"]
        print(f"dispatch (claim, render, two-phase SMTP, ledger + interaction): {sent:,} "
              f"messages in {send_s:.1f} s = {sent / send_s:,.0f} msg/s")
    received = len(smtp.recorder.snapshot())
    bare = bare_smtp_rate(smtp.port, max(sent, 1))
    print(f"baseline bare smtplib send, same server, same count: {bare:,.0f} msg/s")
    print(f"SMTP server received {received:,} greetings (expected {due:,})")
    smtp.stop()


if __name__ == "__main__":
    main()
