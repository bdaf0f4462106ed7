"""Exactly once per (rule, record, occurrence): a re-run of a slot acts on nothing twice, and a
worker SIGKILLed in the middle of a run leaves every record acted on once after the re-run;
the dry run lists what the first real run acts on; rate limits skip with their reason."""
from __future__ import annotations

import os
import signal

from flask import current_app
from sqlalchemy import func, select

from backoffice import stored_text
from backoffice.automation import actions, engine, service
from backoffice.extensions import db
from jobs import runner
from models import JobRun
from models.automation import AutomationFire, AutomationRun, AutomationRunItem
from tests.automation.conftest import tasks_of

TASK = {"kind": "task", "assignee": "owner", "task_type": "callback", "due_days": 1,
        "title": "规则任务"}


def schedule_rule(bank, **values):
    return bank.rule(trigger_kind="schedule", schedule_kind="daily", schedule_time="00:00",
                     actions=[TASK], **values)


def items(rule_id, outcome=None):
    db.session.rollback()
    query = (select(AutomationRunItem).join(AutomationRun,
                                            AutomationRun.id == AutomationRunItem.run_id)
             .where(AutomationRun.rule_id == rule_id))
    if outcome:
        query = query.where(AutomationRunItem.outcome == outcome)
    return db.session.scalars(query.order_by(AutomationRunItem.id)).all()


def test_a_rerun_of_the_same_occurrence_acts_on_nothing_twice(bank):
    customers = bank.customers(3)
    rule = schedule_rule(bank)
    engine.run_rule(db.session, rule.id, trigger="schedule", occurrence="schedule:2026-12-01")
    second = engine.run_rule(db.session, rule.id, trigger="schedule",
                             occurrence="schedule:2026-12-01")
    assert len(tasks_of(customers)) == 3
    assert second["acted"] == 0 and second["skipped"] == 3
    reasons = {stored_text.show(i.reason) for i in items(rule.id, "skipped")}
    assert reasons == {"Already acted on for this occurrence."} or reasons == {"本次触发已处理过该记录。"}
    engine.run_rule(db.session, rule.id, trigger="schedule", occurrence="schedule:2026-12-02")
    assert len(tasks_of(customers)) == 6  # the next day's slot is a new occurrence


def test_a_worker_killed_mid_run_then_the_rerun_acts_on_each_record_once(bank, monkeypatch):
    """A forked worker runs the job through the runner and is SIGKILLed while acting on the
    third record (its task written, not committed); the runner is told the job died (as the
    RQ worker does), the tick starts the slot again, and every customer ends with one task."""
    customers = bank.customers(5)
    rule = schedule_rule(bank)
    run = JobRun(name="jobs.automation.run_rule", status="queued")
    db.session.add(run)
    db.session.commit()
    job_run_id, rule_id = run.id, rule.id
    key = service.schedule.slot_key(rule, service_local_now())
    db.session.execute(engine.AutomationRule.__table__.update().where(
        engine.AutomationRule.__table__.c.id == rule_id).values(last_schedule_key=key))
    db.session.commit()
    runner.claim_connections()
    pid = os.fork()
    if pid == 0:  # the work horse
        try:
            calls = []
            real = actions.create_task

            def dying(session, target, action):
                real(session, target, action)
                calls.append(1)
                if len(calls) == 3:
                    session.flush()
                    os.kill(os.getpid(), signal.SIGKILL)

            actions.HANDLERS["task"] = dying
            runner.execute(job_run_id, "jobs.automation.run_rule", [rule_id],
                           {"trigger": "schedule", "occurrence": f"schedule:{key}"})
        finally:
            os._exit(3)
    _pid, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert len(tasks_of(customers)) == 2  # two records committed before the kill
    runner.record_lost(job_run_id, "the work horse died")  # what jobs.worker does
    db.session.rollback()
    assert db.session.scalar(select(AutomationRun.status).where(
        AutomationRun.job_run_id == job_run_id)) == "failed"
    result = service.tick(db.session, current_app.config)
    assert rule_id in result["started"]
    tasks = tasks_of(customers)
    assert sorted(t.customer_id for t in tasks) == sorted(customers)
    assert db.session.scalar(select(func.count()).select_from(AutomationFire).where(
        AutomationFire.rule_id == rule_id)) == 5
    assert rule_id not in service.tick(db.session, current_app.config)["started"]
    assert len(tasks_of(customers)) == 5


def service_local_now():
    from backoffice.messaging.quiet import to_local, zone
    from models.base import utcnow

    return to_local(utcnow(), zone(current_app.config))


def test_the_dry_run_lists_what_the_first_real_run_acts_on(bank):
    customers = bank.customers(25)
    bank.customers(2, occupation="not this rule")
    rule = schedule_rule(bank, enabled=True)
    total, first = engine.dry_run(db.session, rule)
    everything = [m.customer_id for m in engine.matches(db.session, rule,
                                                        today=service_local_now().date())]
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:first")
    acted = [i.customer_id for i in items(rule.id, "acted")]
    assert total == 25 == len(acted)
    assert sorted(acted) == sorted(everything) == sorted(customers)
    assert [row.customer_id for row in first] == sorted(acted)[:20]


def test_rate_limits_skip_with_their_reason(bank):
    customers = bank.customers(4)
    rule = schedule_rule(bank, max_per_run=3)
    summary = engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:r1")
    assert summary["acted"] == 3 and summary["skipped"] == 1
    [skipped] = items(rule.id, "skipped")
    assert "3" in stored_text.show(skipped.reason)
    rule = db.session.get(engine.AutomationRule, rule.id)
    rule.max_per_run, rule.max_per_hour = None, 3
    db.session.commit()
    summary = engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:r2")
    assert summary["acted"] == 0 and summary["skipped"] == 4  # three this hour already
    assert len(tasks_of(customers)) == 3


def test_a_failing_action_is_logged_with_its_error_and_the_run_goes_on(bank):
    customers = bank.customers(2)
    rule = schedule_rule(bank)
    rule.actions = [TASK, {"kind": "segment", "segment_id": 999999}]
    db.session.commit()
    summary = engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:f")
    assert summary["skipped"] == 2 and summary["acted"] == 0
    assert not tasks_of(customers)  # the record's actions go together, or not at all
    reasons = {stored_text.show(i.reason) for i in items(rule.id, "skipped")}
    assert len(reasons) == 1 and reasons != {""}


def test_a_rules_own_change_does_not_trigger_it_again(bank):
    from backoffice import events
    from models import Customer

    customers = bank.customers(1)
    rule = bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="changed",
                     actions=[{"kind": "set_field", "field": "service_notes", "value": "x"}])
    customer = db.session.get(Customer, customers[0])
    customer.flag_elderly = True
    db.session.commit()
    events.dispatch(db.session)
    events.dispatch(db.session)
    assert len(items(rule.id, "acted")) == 1
    assert db.session.get(Customer, customers[0]).service_notes == "x"


def test_a_rule_acts_on_events_from_when_it_was_switched_on(bank):
    """Events stay in the outbox while another consumer wants them: a complaint opened while a
    rule was off does not set the rule off when it is switched on (nor after a pause)."""
    from flask import current_app

    from backoffice import events
    from backoffice.service.complaints import open_complaint
    from models import Customer

    early, late = bank.customers(2)
    listener = bank.rule(trigger_kind="event", trigger_event="complaint.opened", actions=[TASK])
    rule = bank.rule(trigger_kind="event", trigger_event="complaint.opened", actions=[TASK],
                     enabled=False)
    assert rule.enabled_since is None and listener.enabled_since is not None
    open_complaint(db.session, current_app.config, db.session.get(Customer, early), "规则测试投诉")
    db.session.commit()
    rule.enabled = True
    db.session.commit()
    open_complaint(db.session, current_app.config, db.session.get(Customer, late), "规则测试投诉")
    db.session.commit()
    events.dispatch(db.session)
    assert {item.customer_id for item in items(rule.id)} == {late}
    assert {item.customer_id for item in items(listener.id)} == {early, late}
