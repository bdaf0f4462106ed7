"""The batched ledger: every sent greeting gets exactly one Interaction, linked from its dispatch
row, also when the worker that sent it died before writing the batch's interactions."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from backoffice.messaging import quiet
from backoffice.greetings.dispatch import Sender, run_day
from models import GreetingDispatch, Interaction, Occasion
from tests.greetings.conftest import make_customers

DAY = dt.date(2026, 8, 20)
MORNING = dt.datetime(2026, 8, 20, 2, 0)  # 10:00 in Shanghai


def _interactions(session, ids) -> int:
    return session.scalar(select(func.count(Interaction.id)).where(
        Interaction.customer_id.in_(ids), Interaction.topic == "greeting"))


def test_each_sent_row_links_its_own_interaction(
        db_session, world, channel_config, smtp_server, greeting_cleanup):
    """Several batches (batch size 2): each sent row points at an interaction of its customer
    whose text is the one sent."""
    ids = make_customers(db_session, world, 5, birth=dt.date(1981, 8, 20), channel="email")
    greeting_cleanup.extend(ids)
    previous = channel_config.get("CRM_GREETING_BATCH")
    channel_config["CRM_GREETING_BATCH"] = 2
    try:
        summary = run_day(db_session, channel_config, run_date=DAY, now=MORNING,
                          occasion_codes=["birthday"])
    finally:
        channel_config["CRM_GREETING_BATCH"] = previous
    assert summary["sent"] == 5
    rows = db_session.execute(select(GreetingDispatch, Interaction).join(
        Interaction, Interaction.id == GreetingDispatch.interaction_id).where(
        GreetingDispatch.customer_id.in_(ids))).all()
    assert len(rows) == 5
    for dispatch, interaction in rows:
        assert interaction.customer_id == dispatch.customer_id
        assert dispatch.body in interaction.summary and interaction.occurred_at == dispatch.sent_at
    assert _interactions(db_session, ids) == 5


def test_a_stopped_workers_unlogged_sends_are_logged_once_by_the_next_run(
        db_session, world, channel_config, smtp_server, greeting_cleanup):
    """Rows ``sent`` without an interaction (the worker died between the commit and the batch's
    log write) get one interaction from the next run once their lease is over, not before,
    and never a second one; nothing is sent again."""
    ids = make_customers(db_session, world, 3, birth=dt.date(1982, 8, 20), channel="email")
    greeting_cleanup.extend(ids)
    run_day(db_session, channel_config, run_date=DAY, now=MORNING, occasion_codes=["birthday"])
    mails_before = len(smtp_server.recorder.snapshot())
    # What a worker killed after its ``sent`` commits would have left behind:
    db_session.execute(update(GreetingDispatch).where(GreetingDispatch.customer_id.in_(ids))
                       .values(interaction_id=None))
    db_session.execute(Interaction.__table__.delete().where(
        Interaction.customer_id.in_(ids)))
    db_session.commit()
    occasion_id = db_session.scalar(select(Occasion.id).where(Occasion.code == "birthday"))
    tz = quiet.zone(channel_config)

    within_lease = MORNING + dt.timedelta(seconds=10)
    Sender(db_session, channel_config, lambda: within_lease, tz, [occasion_id]).run({})
    assert _interactions(db_session, ids) == 0  # the sender might still be alive

    later = MORNING + dt.timedelta(hours=1)
    for _ in range(2):
        Sender(db_session, channel_config, lambda: later, tz, [occasion_id]).run({})
    assert _interactions(db_session, ids) == 3
    unlinked = db_session.scalar(select(func.count(GreetingDispatch.id)).where(
        GreetingDispatch.customer_id.in_(ids), GreetingDispatch.interaction_id.is_(None)))
    assert unlinked == 0
    assert len(smtp_server.recorder.snapshot()) == mails_before
