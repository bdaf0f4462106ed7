"""The greeting run against real local servers: right text, once, on the chosen channel."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from backoffice.greetings.dispatch import run_day
from backoffice.messaging.consent import record_consent, withdraw_consent
from models import Customer, FollowUp, GreetingDispatch, Interaction
from tests.greetings.conftest import make_customers

DAY = dt.date(2026, 6, 15)
MORNING = dt.datetime(2026, 6, 15, 2, 0)  # 10:00 in Shanghai
NIGHT = dt.datetime(2026, 6, 15, 14, 0)  # 22:00 in Shanghai


def _run(session, config, now=MORNING, day=DAY):
    return run_day(session, config, run_date=day, now=now, occasion_codes=["birthday"])


def test_a_days_greetings_arrive_once_each_with_the_right_text(
        db_session, world, channel_config, smtp_server, sms_gateway, greeting_cleanup):
    """Birthday customers get one e-mail or SMS each, named and titled; a re-run sends nothing."""
    birth = dt.date(1980, 6, 15)
    by_email = make_customers(db_session, world, 4, birth=birth, channel="email")
    by_sms = make_customers(db_session, world, 3, birth=birth, channel="sms")
    other_day = make_customers(db_session, world, 2, birth=dt.date(1980, 6, 16))
    greeting_cleanup.extend(by_email + by_sms + other_day)

    first = _run(db_session, channel_config)
    again = _run(db_session, channel_config)

    mails = [m for m in smtp_server.recorder.snapshot() if m["to"].startswith("greet")]
    texts = [m for m in sms_gateway.recorder.snapshot()]
    customers = {c.id: c for c in db_session.scalars(
        select(Customer).where(Customer.id.in_(by_email + by_sms + other_day)))}
    assert sorted(m["to"] for m in mails) == sorted(customers[i].email for i in by_email)
    assert sorted(t["mobile"] for t in texts) == sorted(customers[i].mobile for i in by_sms)
    for mail in mails:
        customer = next(c for c in customers.values() if c.email == mail["to"])
        title = "女士" if customer.gender == "F" else "先生"
        assert mail["subject"] == "生日快乐"
        assert mail["body"].startswith(f"尊敬的{customer.name}{title}：祝您生日快乐")
    assert first["sent"] >= 7 and again["sent"] == 0
    assert again["skipped"].get("already_dispatched", 0) >= 7
    logged = db_session.scalar(select(func.count(Interaction.id)).where(
        Interaction.customer_id.in_(by_email + by_sms), Interaction.topic == "greeting"))
    assert logged == 7


def test_consent_withdrawal_is_honoured_at_once(
        db_session, world, channel_config, smtp_server, sms_gateway, greeting_cleanup):
    """A withdrawal before the run, or between selection and a deferred send, stops the send."""
    birth = dt.date(1985, 6, 15)
    before, overnight = (make_customers(db_session, world, 1, birth=birth, channel="sms")
                         for _ in range(2))
    greeting_cleanup.extend(before + overnight)
    customer = db_session.get(Customer, before[0])
    withdraw_consent(customer, "sms", "greeting", source="phone call")
    db_session.commit()

    night = _run(db_session, channel_config, now=NIGHT)  # SMS deferred to 08:00
    row = db_session.scalars(select(GreetingDispatch).where(
        GreetingDispatch.customer_id == overnight[0])).one()
    assert row.status == "deferred" and night["deferred"] >= 1
    assert night["skipped"].get("no_consent", 0) >= 1
    withdraw_consent(db_session.get(Customer, overnight[0]), "sms", "greeting",
                     source="mobile app")
    db_session.commit()
    morning = _run(db_session, channel_config, now=dt.datetime(2026, 6, 16, 0, 30))

    assert sms_gateway.recorder.snapshot() == []
    db_session.refresh(row)
    assert row.status == "cancelled" and morning["cancelled"] >= 1
    assert db_session.scalar(select(func.count(GreetingDispatch.id)).where(
        GreetingDispatch.customer_id == before[0])) == 0


def test_quiet_hours_defer_sms_and_calls_to_the_morning_but_not_email(
        db_session, world, channel_config, smtp_server, sms_gateway, greeting_cleanup):
    """At 22:00 e-mail goes, SMS waits until 08:00 Shanghai (00:00 UTC), then goes once."""
    birth = dt.date(1990, 6, 15)
    mail = make_customers(db_session, world, 1, birth=birth, channel="email")
    sms = make_customers(db_session, world, 1, birth=birth, channel="sms")
    greeting_cleanup.extend(mail + sms)

    night = _run(db_session, channel_config, now=NIGHT)
    assert len(smtp_server.recorder.snapshot()) == 1 and sms_gateway.recorder.snapshot() == []
    row = db_session.scalars(select(GreetingDispatch).where(
        GreetingDispatch.customer_id == sms[0])).one()
    assert row.status == "deferred" and row.next_attempt_at == dt.datetime(2026, 6, 16, 0, 0)
    assert night["deferred"] >= 1

    _run(db_session, channel_config, now=dt.datetime(2026, 6, 15, 23, 59))  # 07:59 local
    assert sms_gateway.recorder.snapshot() == []
    _run(db_session, channel_config, now=dt.datetime(2026, 6, 16, 0, 1))  # 08:01 local
    _run(db_session, channel_config, now=dt.datetime(2026, 6, 16, 1, 0))
    assert len(sms_gateway.recorder.snapshot()) == 1
    assert len(smtp_server.recorder.snapshot()) == 1


def test_29_february_birthdays_are_greeted_on_28_february_in_common_years(
        db_session, world, channel_config, smtp_server, greeting_cleanup):
    """Born 29 Feb: greeted 28 Feb 2027 (common year) and 29 Feb 2028, never twice a year."""
    leap = make_customers(db_session, world, 1, birth=dt.date(1988, 2, 29))
    plain = make_customers(db_session, world, 1, birth=dt.date(1988, 2, 28))
    greeting_cleanup.extend(leap + plain)

    def greeted_on(day):
        smtp_server.recorder.clear()
        run_day(db_session, channel_config, run_date=day, now=dt.datetime.combine(
            day, dt.time(2, 0)), occasion_codes=["birthday"])
        return {m["to"] for m in smtp_server.recorder.snapshot()}

    leap_mail, plain_mail = (db_session.get(Customer, i).email for i in leap + plain)
    assert greeted_on(dt.date(2027, 2, 28)) >= {leap_mail, plain_mail}
    assert leap_mail not in greeted_on(dt.date(2027, 3, 1))
    assert plain_mail in greeted_on(dt.date(2028, 2, 28))
    found = greeted_on(dt.date(2028, 2, 29))
    assert leap_mail in found and plain_mail not in found


def test_top_tier_birthdays_become_a_call_task_for_the_relationship_manager(
        db_session, world, channel_config, smtp_server, greeting_cleanup):
    """Birthday channel order starts with phone: private banking gets an RM call task."""
    ids = make_customers(db_session, world, 1, birth=dt.date(1970, 6, 15), channel="phone")
    greeting_cleanup.extend(ids)
    db_session.get(Customer, ids[0]).tier = "private_banking"
    db_session.commit()

    _run(db_session, channel_config)

    task = db_session.scalars(select(FollowUp).where(FollowUp.customer_id == ids[0])).one()
    assert task.task_type == "greeting_call" and task.assignee_id == world.staff["rm1"]
    assert task.source == "greeting" and "生日快乐" in task.notes
    assert smtp_server.recorder.snapshot() == []


def test_a_refused_send_retries_with_backoff_and_ends_visibly_failed(
        db_session, world, channel_config, sms_gateway, greeting_cleanup):
    """A gateway answering 503 leads to retries spaced 5, 10, 20, 40 minutes, then failed."""
    ids = make_customers(db_session, world, 1, birth=dt.date(1975, 6, 15), channel="sms")
    greeting_cleanup.extend(ids)
    sms_gateway.fail_status = 503
    now = MORNING
    for _ in range(5):
        _run(db_session, channel_config, now=now)
        row = db_session.scalars(select(GreetingDispatch).where(
            GreetingDispatch.customer_id == ids[0])).one()
        db_session.refresh(row)
        now = row.next_attempt_at
    assert row.status == "failed" and row.attempts == 5 and "503" in row.last_error
    assert db_session.scalar(select(func.count(Interaction.id)).where(
        Interaction.customer_id == ids[0], Interaction.topic == "greeting")) == 0
    assert record_consent  # the consent service is the only path that grants consent here
