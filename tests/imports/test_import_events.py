"""An import raises the record events a screen's save raises: ``record.created`` for each record
it creates and ``record.changed`` (changed fields, old and new values of non-sensitive fields
only) for each it updates, in the transaction of the rows, only when a consumer wants them.

Guards the gap where customers arriving by spreadsheet (most of them) never reached rules on
"customer created/changed" or webhooks on ``record.*``: the import writes with bulk statements
the session's flush hook never sees.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, false, or_, select

from backoffice import events
from backoffice.extensions import db
from backoffice.imports import pipeline
from backoffice.imports.customers_target import CustomerTarget
from backoffice.imports.revert import revert
from models import Account, Customer, FollowUp
from models.events import DomainEvent, DomainEventHandled
from models.imports import ImportBatch
from tests.automation.conftest import Bank, tasks_of
from tests.imports.conftest import commit, created_ids, csv_bytes, remove_batches_data, upload
from tests.support.world import make_prc_id

UNSCOPED = {"crm_unscoped": True}
TASK = {"kind": "task", "assignee": "owner", "task_type": "callback", "due_days": 1,
        "title": "导入规则任务"}
NEW_HEADER = ["客户号", "姓名", "身份证号", "出生日期", "手机号", "职业", "支行", "客户经理",
              "风险等级"]
UPDATE_HEADER = ["客户号", "身份证号", "手机号", "邮箱", "风险等级"]


@pytest.fixture
def outbox(app, world, imports):
    """A bank of the test's own (``tests.automation.conftest.Bank``: customers, rules); after
    the test, the events its batches raised, the tasks rules made for the records they
    created, the batches' records and the bank are removed, in that order."""
    bank = Bank(world)
    before = db.session.execute(select(db.func.max(ImportBatch.id))).scalar() or 0
    yield bank
    db.session.rollback()
    made = list(db.session.execute(select(ImportBatch.id).where(ImportBatch.id > before))
                .scalars())
    created = created_ids(db.session.execute(select(ImportBatch.id).where(
        ImportBatch.id > before, ImportBatch.kind == "customers")).scalars())
    mine = select(DomainEvent.id).where(or_(*(
        DomainEvent.occurrence.like(f"import:{batch}:%") for batch in made)) if made
        else false())
    db.session.execute(delete(DomainEventHandled).where(DomainEventHandled.event_id.in_(mine)))
    db.session.execute(delete(DomainEvent).where(DomainEvent.id.in_(mine))
                       .execution_options(synchronize_session=False))
    if created:
        db.session.execute(delete(FollowUp).where(FollowUp.customer_id.in_(created))
                           .execution_options(synchronize_session=False))
    db.session.commit()
    remove_batches_data(made)
    bank.cleanup()


def batch_events(batch_id: int, name: str | None = None) -> list[DomainEvent]:
    db.session.rollback()
    query = select(DomainEvent).where(DomainEvent.occurrence.like(f"import:{batch_id}:%"))
    if name:
        query = query.where(DomainEvent.name == name)
    return list(db.session.scalars(query.order_by(DomainEvent.entity_id, DomainEvent.id)
                                   .execution_options(**UNSCOPED)))


def new_rows(prefix: str, count: int, occupation: str, start: int = 0) -> list[list]:
    rows = []
    for i in range(start, start + count):
        birth = dt.date(1982, 1 + i % 12, 1 + i % 27)
        rows.append([f"{prefix}{i:03d}", f"导入客户{i}", make_prc_id(birth, 300 + i),
                     birth.isoformat(), f"139{uuid.uuid4().int % 10**8:08d}", occupation,
                     "B1", "rm1", "谨慎型"])
    return rows


def prefix() -> str:
    return f"EV{uuid.uuid4().hex[:6].upper()}"


def test_new_customers_raise_one_record_created_each_and_the_rule_acts_on_them(
        outbox, chunk_size):
    """Three new customers over two chunks: three ``record.created`` events, each naming its
    customer and branch with the fields it was created with (ID number and mobile by name
    only); the rule waiting for created customers makes a task for each."""
    bank = outbox
    rule = bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="created",
                     actions=[TASK])
    chunk_size(2)
    rows = new_rows(prefix(), 3, bank.marker)
    summary = commit(csv_bytes(NEW_HEADER, rows))
    assert summary["status"] == "committed" and summary["created"] == 3
    ids = created_ids([summary["batch_id"]])
    found = batch_events(summary["batch_id"])
    assert [e.name for e in found] == [events.RECORD_CREATED] * 3
    assert [e.entity_id for e in found] == sorted(ids)
    assert all(e.entity == "customer" and e.customer_id == e.entity_id for e in found)
    assert {e.branch_id for e in found} == {bank.world.branches["B1"]}
    by_number = {e.data["changed"]["customer_no"][1]: e for e in found}
    for row in rows:
        changed = by_number[row[0]].data["changed"]
        assert changed["name"] == [None, row[1]]
        assert changed["occupation"] == [None, bank.marker]
        assert changed["risk_tolerance"] == [None, "C2"]
        assert changed["birth_date"] == [None, row[3]]
        assert changed["id_number"] is None and changed["mobile"] is None
        assert by_number[row[0]].data["import_batch_id"] == summary["batch_id"]
        text = json.dumps(by_number[row[0]].data, ensure_ascii=False)
        assert row[2] not in text and row[4] not in text

    events.dispatch(db.session)
    assert sorted(task.customer_id for task in tasks_of(ids)) == sorted(ids)
    assert {task.title for task in tasks_of(ids)} == {TASK["title"]}
    assert rule.enabled


def _plant(customer_id: int, income: str, notes: str) -> None:
    customer = db.session.get(Customer, customer_id, execution_options=UNSCOPED)
    customer.annual_income = Decimal(income)
    customer.investment_notes = notes
    db.session.commit()


def test_an_update_raises_record_changed_like_a_screen_edit_without_sensitive_values(outbox):
    """Two customers get the same change, one by import and one through the ORM (as a screen
    saves): their ``changed`` data are equal. Old and new risk tolerance are there; the ID
    number, mobile and e-mail the file carries, the old mobile and e-mail, and the deep
    profile planted in the encrypted columns are in no event's data."""
    bank = outbox
    bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="changed",
              actions=[])
    imported, edited = bank.customers(2)
    income, notes = "8765432.10", f"深度标记{uuid.uuid4().hex[:8]}"
    _plant(imported, income, notes)
    before = db.session.get(Customer, imported, execution_options=UNSCOPED)
    old = {"id_number": before.id_number, "mobile": before.mobile, "email": before.email,
           "customer_no": before.customer_no, "version": before.version}
    new_mobile = f"139{uuid.uuid4().int % 10**8:08d}"
    new_email = f"ev{uuid.uuid4().hex[:8]}@example.com"
    summary = commit(csv_bytes(UPDATE_HEADER, [
        [old["customer_no"], old["id_number"], new_mobile, new_email, "谨慎型"]]))
    assert summary["status"] == "committed" and summary["updated"] == 1

    found = batch_events(summary["batch_id"])
    assert [(e.name, e.entity, e.entity_id, e.customer_id) for e in found] == [
        (events.RECORD_CHANGED, "customer", imported, imported)]
    event = found[0]
    assert event.branch_id == bank.world.branches["B1"]
    assert event.occurrence == f"import:{summary['batch_id']}:customer:{imported}"
    assert event.data["changed"] == {"risk_tolerance": ["C4", "C2"], "mobile": None,
                                     "email": None}
    text = json.dumps(event.data, ensure_ascii=False)
    for secret in (old["id_number"], old["mobile"], old["email"], new_mobile, new_email,
                   income, notes):
        assert secret not in text, secret

    customer = db.session.get(Customer, edited, execution_options=UNSCOPED)
    customer.risk_tolerance, customer.mobile = "C2", f"139{uuid.uuid4().int % 10**8:08d}"
    customer.email = f"ev{uuid.uuid4().hex[:8]}@example.com"
    db.session.commit()
    screen = db.session.scalars(select(DomainEvent).where(
        DomainEvent.entity_id == edited, DomainEvent.entity == "customer",
        DomainEvent.name == events.RECORD_CHANGED).execution_options(**UNSCOPED)).one()
    assert screen.data["changed"] == event.data["changed"]
    assert db.session.get(Customer, imported, execution_options=UNSCOPED).version \
        == old["version"] + 1


class _Probe:
    """A consumer wanting only ``names`` (and handling nothing: the test only reads the
    outbox)."""

    def __init__(self, names):
        self.names = set(names)
        self.asked: list[str] = []

    def wants(self, name):
        self.asked.append(name)
        return name in self.names


def _only(monkeypatch, probe):
    monkeypatch.setattr(events, "_consumers", {"probe": events.Consumer(
        "probe", lambda session, event: None, probe.wants)})


def test_nothing_is_published_for_events_no_consumer_wants(outbox, monkeypatch):
    """No consumer: a file creating one customer and updating another raises nothing. A
    consumer wanting only changes: the same kind of file raises the change only."""
    bank = outbox
    first, second = bank.customers(2)
    numbers = {c: db.session.get(Customer, c, execution_options=UNSCOPED).customer_no
               for c in (first, second)}
    nobody = _Probe(())
    _only(monkeypatch, nobody)
    code = prefix()
    mixed = csv_bytes(NEW_HEADER, new_rows(code, 1, bank.marker)
                      + [[numbers[first], "", "", "", "", "", "", "", "谨慎型"]])
    summary = commit(mixed)
    assert (summary["created"], summary["updated"]) == (1, 1)
    assert batch_events(summary["batch_id"]) == []
    assert {events.RECORD_CREATED, events.RECORD_CHANGED} <= set(nobody.asked)

    _only(monkeypatch, _Probe({events.RECORD_CHANGED}))
    summary = commit(csv_bytes(NEW_HEADER, new_rows(code, 1, bank.marker, start=1)
                               + [[numbers[second], "", "", "", "", "", "", "", "谨慎型"]]))
    assert (summary["created"], summary["updated"]) == (1, 1)
    assert [(e.name, e.entity_id) for e in batch_events(summary["batch_id"])] == [
        (events.RECORD_CHANGED, second)]


@pytest.fixture
def publishing(monkeypatch):
    """Counts the events ``publish_rows`` wrote (whatever became of them after)."""
    written = []
    original = events.publish_rows

    def counted(session, name, rows):
        number = original(session, name, rows)
        written.append(number)
        return number

    monkeypatch.setattr(events, "publish_rows", counted)
    return written


def test_an_atomic_import_that_rolls_back_leaves_no_events(outbox, chunk_size, publishing):
    """The first chunk is written with its events; a bad row in the second makes the atomic
    batch roll back: neither its customers nor their events are left."""
    bank = outbox
    bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="created",
              actions=[])
    chunk_size(2)
    code = prefix()
    rows = new_rows(code, 3, bank.marker)
    rows[2][4] = "12345"  # not a mainland mobile: rejected
    summary = commit(csv_bytes(NEW_HEADER, rows))
    assert summary["status"] == "failed" and summary["rejected"] == 1
    assert sum(publishing) == 2  # the first chunk's events were in the transaction
    assert batch_events(summary["batch_id"]) == []
    assert not db.session.scalars(select(Customer.id).where(
        Customer.customer_no.like(f"{code}%")).execution_options(**UNSCOPED)).all()


def test_an_import_that_crashes_midway_leaves_no_events(outbox, chunk_size, publishing,
                                                        monkeypatch):
    """A write that fails on the second chunk (a crash of the pass): the first chunk's
    events roll back with its rows."""
    bank = outbox
    bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="created",
              actions=[])
    chunk_size(2)
    calls = []
    original = CustomerTarget.apply

    def failing(self, plan):
        calls.append(len(plan.inserts))
        if len(calls) == 2:
            raise RuntimeError("the writer died")
        return original(self, plan)

    monkeypatch.setattr(CustomerTarget, "apply", failing)
    code = prefix()
    batch = upload(csv_bytes(NEW_HEADER, new_rows(code, 4, bank.marker)))
    with pytest.raises(RuntimeError):
        pipeline.commit(db.session, batch.id)
    db.session.rollback()
    assert sum(publishing) == 2
    assert batch_events(batch.id) == []
    assert not db.session.scalars(select(Customer.id).where(
        Customer.customer_no.like(f"{code}%")).execution_options(**UNSCOPED)).all()


def test_a_revert_raises_record_changed_for_the_records_it_restores(outbox):
    """Reverting a batch that updated one customer and created another: the restored customer
    raises ``record.changed`` back to its old values (marked as a revert); the removed one
    raises nothing."""
    bank = outbox
    bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="changed",
              actions=[])
    (existing,) = bank.customers(1)
    number = db.session.get(Customer, existing, execution_options=UNSCOPED).customer_no
    summary = commit(csv_bytes(NEW_HEADER, new_rows(prefix(), 1, bank.marker)
                               + [[number, "", "", "", "", "", "", "", "谨慎型"]]))
    assert (summary["created"], summary["updated"]) == (1, 1)
    result = revert(db.session, summary["batch_id"])
    assert result["removed"] == 1 and result["restored"] == 1
    found = batch_events(summary["batch_id"])
    assert [(e.name, e.entity_id, e.occurrence.endswith(":revert")) for e in found] == [
        (events.RECORD_CHANGED, existing, False), (events.RECORD_CHANGED, existing, True)]
    imported, reverted = found
    assert imported.data["changed"] == {"risk_tolerance": ["C4", "C2"]}
    assert reverted.data["changed"] == {"risk_tolerance": ["C2", "C4"]}
    assert reverted.data["reverted"] is True and reverted.branch_id == bank.world.branches["B1"]


def test_interactions_and_accounts_raise_their_record_events(outbox):
    """The other watched records an import writes: interactions (created) and accounts
    (created, then changed), each naming its customer; an account's number and balance
    (encrypted, deep profile) by name only."""
    bank = outbox
    for entity in ("interaction", "account"):
        for on in ("created", "changed"):
            bank.rule(trigger_kind="record", trigger_entity=entity, trigger_on=on, actions=[])
    (customer_id,) = bank.customers(1)
    number = db.session.get(Customer, customer_id, execution_options=UNSCOPED).customer_no
    summary = f"问理财{uuid.uuid4().hex[:6]}"
    talks = commit(csv_bytes(["客户号", "时间", "渠道", "主题", "摘要"], [
        [number, "2024-03-05 10:00", "电话", "inquiry", summary],
        [number, "2024-03-06 10:00", "电话", "inquiry", summary]]), kind="interactions")
    assert talks["created"] == 2
    found = batch_events(talks["batch_id"])
    assert [(e.name, e.entity, e.customer_id) for e in found] == [
        (events.RECORD_CREATED, "interaction", customer_id)] * 2
    assert [e.entity_id for e in found] == sorted(created_ids([talks["batch_id"]]))
    assert all(e.data["changed"]["topic"] == [None, "inquiry"]
               and e.data["changed"]["summary"] == [None, summary] for e in found)

    account_no = f"8888{uuid.uuid4().int % 10**7:07d}"
    opened = commit(csv_bytes(["账号", "客户号", "产品", "余额", "开户日期"], [
        [account_no, number, "DEP-T", "1234.50", "2024-01-02"]]), kind="accounts")
    assert opened["created"] == 1
    (created,) = batch_events(opened["batch_id"])
    assert (created.name, created.entity, created.customer_id) == (
        events.RECORD_CREATED, "account", customer_id)
    assert created.data["changed"]["account_no"] is None
    assert created.data["changed"]["balance"] is None
    assert created.data["changed"]["opened_on"] == [None, "2024-01-02"]
    changed = commit(csv_bytes(["账号", "客户号", "产品", "余额", "开户日期"], [
        [account_no, number, "DEP-T", "98765.43", "2024-01-02"]]), kind="accounts")
    assert changed["updated"] == 1
    (event,) = batch_events(changed["batch_id"])
    assert (event.name, event.entity_id, event.customer_id) == (
        events.RECORD_CHANGED, created.entity_id, customer_id)
    assert event.data["changed"] == {"balance": None}
    for found in (created, event):
        text = json.dumps(found.data)
        assert account_no not in text and "1234.5" not in text and "98765" not in text
    account = db.session.get(Account, created.entity_id, execution_options=UNSCOPED)
    assert account is not None and str(account.balance) == "98765.43"


def test_events_raised_again_for_the_same_records_are_stored_once(outbox):
    """The occurrence names the batch and the record: raising a chunk's events again (a
    resumed pass, a retried write) adds nothing, and ``publish_rows`` counts only new rows."""
    from backoffice.imports import record_events

    bank = outbox
    bank.rule(trigger_kind="record", trigger_entity="customer", trigger_on="created",
              actions=[])
    summary = commit(csv_bytes(NEW_HEADER, new_rows(prefix(), 2, bank.marker)))
    ids = sorted(created_ids([summary["batch_id"]]))
    assert len(batch_events(summary["batch_id"], events.RECORD_CREATED)) == 2
    (extra,) = bank.customers(1)  # not in the batch: its event is new
    branch = bank.world.branches["B1"]
    written = record_events.publish_created(db.session, Customer, summary["batch_id"],
                                            [*ids, extra], [{"branch_id": branch}] * 3)
    db.session.commit()
    assert written == 1
    found = batch_events(summary["batch_id"], events.RECORD_CREATED)
    assert [e.entity_id for e in found] == [*ids, extra]
    assert all("customer_no" in e.data["changed"] for e in found[:2])  # kept as they were
    assert found[2].data["changed"] == {"branch_id": [None, branch]}
