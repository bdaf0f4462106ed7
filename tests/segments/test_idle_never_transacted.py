"""A customer who never transacted is idle since their account opened.

"Days since last transaction" was empty for a customer with no transaction at all, so the idle
deposit detector (demand deposits > 200,000 and 90 days without a transaction) never flagged
6,000,000 in a demand deposit nobody had moved since it was opened. Three customers of B1:
``idle`` (6,000,000 deposited on an account opened 200 days ago, no transaction), ``active``
(the same, with a transaction 10 days ago) and ``new`` (an account opened 30 days ago, no
transaction). Only ``idle`` needs the offer, in the refresh, in the rule builder's count and on
the 360 page's evidence.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from tests.support.world import make_prc_id

DEPOSIT = Decimal("6000000.00")


@pytest.fixture
def idle_bank(app, world):
    from backoffice.extensions import db
    from models import Account, Customer, Transaction
    from models.base import utcnow

    today = utcnow().date()
    tag = uuid.uuid4().hex[:8]
    ids = {}
    with app.app_context():
        for serial, (name, opened_days, tx_days) in enumerate(
                (("idle", 200, None), ("active", 200, 10), ("new", 30, None))):
            birth = dt.date(1960, 2, 1 + serial)
            customer = Customer(
                customer_no=f"D{tag}{serial}", name=f"闲置{name}", customer_type="individual",
                gender="M", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, 900 + serial), branch_id=world.branches["B1"],
                owner_id=world.staff["rm2"], risk_tolerance="C2", status="active",
                occupation=f"IDLE-{tag}", onboarded_on=today - dt.timedelta(days=400),
                tier="mass", custom_fields={})
            db.session.add(customer)
            db.session.flush()
            account = Account(account_no=f"6277{tag}{serial:06d}"[:19], customer_id=customer.id,
                              product_id=world.product_id, balance=DEPOSIT, status="open",
                              opened_on=today - dt.timedelta(days=opened_days))
            db.session.add(account)
            db.session.flush()
            if tx_days is not None:
                db.session.add(Transaction(
                    account_id=account.id, customer_id=customer.id, amount=Decimal("100.00"),
                    occurred_at=dt.datetime.combine(today - dt.timedelta(days=tx_days),
                                                    dt.time(9)),
                    direction="out", channel="mobile", type="spending"))
            ids[name] = customer.id
        db.session.commit()
        db.session.remove()
    yield {"ids": ids, "today": today, "occupation": f"IDLE-{tag}"}
    with app.app_context():
        db.session.remove()
        customers = list(ids.values())
        db.session.execute(delete(Transaction).where(Transaction.customer_id.in_(customers)))
        db.session.execute(delete(Account).where(Account.customer_id.in_(customers)))
        db.session.execute(delete(Customer).where(Customer.id.in_(customers)))
        db.session.commit()


def test_never_transacted_deposit_is_flagged_idle(app, idle_bank):
    from backoffice.extensions import db
    from backoffice.segments import rules as r
    from backoffice.segments.catalog import rule_fields
    from backoffice.segments.needs import customer_needs
    from backoffice.segments.refresh import refresh_all
    from models import Customer, Segment, SegmentMembership

    ids, today = idle_bank["ids"], idle_bank["today"]
    with app.app_context():
        fields = rule_fields(session=db.session)
        detector = db.session.scalars(select(Segment).where(
            Segment.code == "need_idle_deposit")).one()
        # The rule builder's count (correlated metric, one query).
        condition = r.compile_rule(detector.rule, fields, today=today,
                                   dialect=db.session.get_bind().dialect.name)
        counted = set(db.session.scalars(select(Customer.id).where(
            Customer.id.in_(list(ids.values())), condition)))
        assert counted == {ids["idle"]}
        try:
            refresh_all(db.session, fields, today=today)
            members = set(db.session.scalars(select(SegmentMembership.customer_id).where(
                SegmentMembership.segment_id == detector.id,
                SegmentMembership.customer_id.in_(list(ids.values())))))
            assert members == {ids["idle"]}
            needs = customer_needs(db.session.get(Customer, ids["idle"]), fields,
                                   show_money=True, validity_days=365)
            evidence = {e["label"]: e["value"] for need in needs["needs"]
                        if need["segment"].id == detector.id for e in need["evidence"]}
            assert str(fields["metric.days_since_transaction"].label) in evidence
            assert evidence[str(fields["metric.days_since_transaction"].label)] == "200"
        finally:
            db.session.rollback()
            db.session.remove()


def test_days_since_transaction_counts_from_the_opening(app, idle_bank):
    """The metric itself: last transaction, else first account opened."""
    from backoffice.extensions import db
    from backoffice.segments import rules as r
    from backoffice.segments.catalog import rule_fields
    from models import Customer

    ids, today = idle_bank["ids"], idle_bank["today"]
    with app.app_context():
        fields = rule_fields(session=db.session)

        def matching(op, value):
            rule = {"op": "and", "items": [
                {"field": "customer.occupation", "op": "eq", "value": idle_bank["occupation"]},
                {"field": "metric.days_since_transaction", "op": op, "value": value}]}
            condition = r.compile_rule(r.validate(rule, fields), fields, today=today,
                                       dialect=db.session.get_bind().dialect.name)
            return set(db.session.scalars(select(Customer.id).where(condition)))

        assert matching("eq", 200) == {ids["idle"]}
        assert matching("eq", 10) == {ids["active"]}
        assert matching("eq", 30) == {ids["new"]}
        assert db.session.scalar(select(func.count()).select_from(Customer).where(
            Customer.id.in_(list(ids.values())))) == 3
        db.session.remove()
