"""The event outbox (``backoffice.events``): stored with the change or not at all, handled once
per consumer whatever crashes, failures recorded and retried, record changes without sensitive
values."""
from __future__ import annotations

import os
import signal
import uuid

import pytest
from sqlalchemy import func, select

from backoffice import events
from backoffice.extensions import db
from jobs import runner
from models import Customer, JobRun
from models.events import DomainEvent, DomainEventHandled


@pytest.fixture
def consumer(app, world):
    """A consumer wanting only this test's event name; its effect is a marked job-run row."""
    name = f"test.{uuid.uuid4().hex[:8]}"
    state = {"fail": 0, "kill_after_effect": False, "seen": []}

    def handler(session, event):
        session.add(JobRun(name="jobs.test.effect", status="finished",
                           message=f"{name}:{event.id}"))
        session.flush()
        state["seen"].append(event.id)
        if state["kill_after_effect"]:
            os.kill(os.getpid(), signal.SIGKILL)  # a worker dying mid-transaction
        if state["fail"]:
            state["fail"] -= 1
            raise RuntimeError("handler trouble")

    events.subscribe(name, handler, lambda n: n == name)
    with app.app_context():
        yield name, state
        db.session.rollback()
        db.session.remove()
    events.unsubscribe(name)


def effects(name: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(JobRun)
                             .where(JobRun.message.like(f"{name}:%")))


def stored(name: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(DomainEvent)
                             .where(DomainEvent.name == name))


def test_nothing_is_written_when_no_consumer_wants_it(app):
    with app.app_context():
        assert not events.publish(db.session, "nobody.wants.this", entity="customer", entity_id=1)
        db.session.commit()
        assert stored("nobody.wants.this") == 0


def test_an_event_commits_with_its_change_or_not_at_all(consumer, world):
    name, _state = consumer
    assert events.publish(db.session, name, entity="customer", entity_id=1)
    db.session.rollback()
    assert stored(name) == 0
    assert events.publish(db.session, name, entity="customer", entity_id=1,
                          customer_id=world.customers["c_rm1"])
    db.session.commit()
    assert stored(name) == 1


def test_a_re_raised_occurrence_is_stored_once_and_breaks_nothing(consumer):
    name, _state = consumer
    assert events.publish(db.session, name, entity="customer", entity_id=7, occurrence="o-1")
    db.session.commit()
    assert not events.publish(db.session, name, entity="customer", entity_id=7,
                              occurrence="o-1")
    db.session.add(JobRun(name="jobs.test.after", status="finished", message=f"{name}:after"))
    db.session.commit()  # the caller's own change still commits
    assert stored(name) == 1
    assert effects(name) == 1


def test_each_event_is_handled_once_however_often_dispatch_runs(consumer):
    name, state = consumer
    for i in range(3):
        events.publish(db.session, name, entity="customer", entity_id=i)
    db.session.commit()
    first = events.dispatch(db.session)
    assert first["handled"] >= 3
    events.dispatch(db.session)
    events.dispatch(db.session)
    assert effects(name) == 3
    assert len(state["seen"]) == 3


def test_a_failing_handler_is_rolled_back_recorded_and_retried(consumer):
    name, state = consumer
    state["fail"] = 1
    events.publish(db.session, name, entity="customer", entity_id=1)
    db.session.commit()
    counts = events.dispatch(db.session)
    assert counts["failed"] == 1
    assert effects(name) == 0  # the handler's write went with its error
    [failure] = [f for f in events.failures(db.session, name)]
    assert failure.attempts == 1 and "handler trouble" in failure.error
    events.dispatch(db.session)
    assert effects(name) == 1
    row = db.session.scalar(select(DomainEventHandled).where(DomainEventHandled.consumer == name))
    assert row.handled_at is not None and row.attempts == 2 and row.error is None


def test_a_worker_killed_mid_handler_leaves_nothing_and_the_rerun_handles_it_once(consumer):
    """SIGKILL after the handler wrote its effect, before the commit: the claim and the effect
    vanish together; the next dispatch handles the event exactly once."""
    name, state = consumer
    events.publish(db.session, name, entity="customer", entity_id=1)
    db.session.commit()
    runner.claim_connections()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            runner._drop_inherited_connections()
            state["kill_after_effect"] = True
            events.dispatch(db.session)
        finally:
            os._exit(3)  # not reached: the handler kills the process
    _pid, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert effects(name) == 0
    state["kill_after_effect"] = False
    events.dispatch(db.session)
    events.dispatch(db.session)
    assert effects(name) == 1


def test_record_changes_carry_values_except_sensitive_ones(consumer, world):
    name, _state = consumer
    seen = []
    events.subscribe(name + ".watch", lambda s, e: seen.append((e.name, e.entity, e.data)),
                     lambda n: n == events.RECORD_CHANGED)
    events.watch(Customer, "customer")
    try:
        customer = db.session.get(Customer, world.customers["c_rm1"])
        old_occupation, old_mobile = customer.occupation, customer.mobile
        customer.occupation = f"marker-{name}"
        customer.mobile = "13900000000"
        db.session.commit()
        events.dispatch(db.session)
    finally:
        events.unsubscribe(name + ".watch")
        customer = db.session.get(Customer, world.customers["c_rm1"])
        customer.occupation = old_occupation
        customer.mobile = old_mobile
        db.session.commit()
    mine = [data for ev, entity, data in seen
            if entity == "customer" and "occupation" in data["changed"]
            and data["changed"]["occupation"][1] == f"marker-{name}"]
    assert mine, seen
    assert mine[0]["changed"]["mobile"] is None  # named, never its value
    assert "13900000000" not in repr(mine)


def test_kick_starts_the_dispatch_once_after_a_commit_that_published(consumer):
    name, _state = consumer
    started = []
    previous = list(events._starter)
    events.set_starter(lambda: started.append(1))
    try:
        events.publish(db.session, name, entity="customer", entity_id=1)
        db.session.commit()
        assert events.kick() and not events.kick()
        db.session.add(JobRun(name="jobs.test.nothing", status="finished"))
        db.session.commit()
        assert not events.kick()  # a commit that published nothing starts nothing
    finally:
        events._starter[:] = previous
    assert started == [1]


def test_the_dispatch_job_runs_through_the_usual_job_path(consumer):
    from jobs.queue import enqueue

    name, _state = consumer
    events.publish(db.session, name, entity="customer", entity_id=1)
    db.session.commit()
    run = enqueue("jobs.events.dispatch")
    assert run.status == "finished", run.error
    assert effects(name) == 1


def test_sealed_and_encrypted_columns_travel_by_name_only(app):
    """A change request's sealed payload and a customer's ciphertext columns are named in a
    record event, never carried."""
    from models import ChangeRequest

    with app.app_context():
        request = ChangeRequest(entity="customer", kind="update", status="pending",
                                payload="SEALED-MARKER", branch_id=1, maker_id=1)
        changed = events._changes(request, "change_request", created=True)
        assert changed["payload"] is None and "SEALED-MARKER" not in repr(changed)
        customer = Customer(name="名", mobile_enc="CIPHER-MARKER", custom_fields={})
        changed = events._changes(customer, "customer", created=True)
        assert changed.get("mobile", "absent") is None and "CIPHER-MARKER" not in repr(changed)
        assert changed["name"] == [None, "名"]
