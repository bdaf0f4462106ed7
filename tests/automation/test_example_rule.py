"""The issue's example: "when a private-banking customer's net outflow passes 30 %, give the
relationship manager a task due in one working day and tell the branch manager", built from
the rule builder's fields (tier, the net-outflow metric) and two actions."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import delete, select

from backoffice.automation import engine
from backoffice.extensions import db
from backoffice.service import sla
from models import Account, Transaction
from models.base import utcnow
from tests.automation.conftest import tasks_of


def holdings(bank, world, customer_id, balance, out, inflow=Decimal(0)):
    account = Account(account_no=f"62{uuid.uuid4().int % 10**17:017d}", customer_id=customer_id,
                      product_id=world.product_id, balance=balance,
                      opened_on=dt.date(2020, 1, 2), status="open")
    db.session.add(account)
    db.session.flush()
    when = utcnow() - dt.timedelta(days=3)
    for amount, direction in ((out, "out"), (inflow, "in")):
        if amount:
            db.session.add(Transaction(account_id=account.id, customer_id=customer_id,
                                       occurred_at=when, amount=amount, direction=direction,
                                       channel="mobile", type="transfer"))
    db.session.commit()
    bank.extra.append(lambda: (db.session.execute(delete(Transaction).where(
        Transaction.account_id == account.id)), db.session.execute(delete(Account).where(
            Account.id == account.id))))


def test_private_banking_outflow_above_30_percent(bank, world):
    from models.notifications import Notification

    [leaving] = bank.customers(1, tier="private_banking")
    [staying] = bank.customers(1, tier="private_banking")
    [mass] = bank.customers(1, tier="mass")
    holdings(bank, world, leaving, Decimal("70000"), Decimal("40000"))  # 36 % left
    holdings(bank, world, staying, Decimal("100000"), Decimal("10000"))  # 9 %
    holdings(bank, world, mass, Decimal("10000"), Decimal("90000"))  # 90 %, not private banking
    conditions = {"op": "and", "items": [
        *bank.conditions()["items"],
        {"field": "customer.tier", "op": "eq", "value": "private_banking"},
        {"field": "metric.net_outflow_pct_30d", "op": "gte", "value": "30"}]}
    rule = bank.rule(trigger_kind="schedule", schedule_kind="workdays", schedule_time="09:00",
                     conditions=conditions, actions=[
                         {"kind": "task", "assignee": "owner", "task_type": "retention",
                          "due_days": 1, "title": "大额资金流出回访"},
                         {"kind": "notify", "assignee": "branch_manager",
                          "text": "私行客户资金净流出超过30%"}])
    total, first = engine.dry_run(db.session, rule)
    assert total == 1 and first[0].customer_id == leaving
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:example")
    [task] = tasks_of([leaving, staying, mass])
    assert task.customer_id == leaving and task.assignee_id == world.staff["rm1"]
    assert task.task_type == "retention"
    from backoffice.messaging.quiet import to_local, zone
    from flask import current_app

    tz = zone(current_app.config)
    today = to_local(utcnow(), tz).date()
    assert to_local(task.due_at, tz).date() == sla.add_working_days(today, 1)
    told = db.session.scalars(select(Notification).where(
        Notification.kind == "rule", Notification.customer_id == leaving)).all()
    assert [n.recipient_id for n in told] == [world.staff["bm1"]]
