"""The set-based refresh over rules on every kind of field matches the compiled rule itself.

Guards the refresh's own path (metrics staged once per source, then joined) against the
single-query path the live count uses: memberships after a refresh are exactly the customers
the rule's one SQL query selects, for rules over each metric source, custom fields (including
a multiple choice, whose SQL operand is an array on PostgreSQL), nested groups, and "days since
the last ..." beyond the window the grouped passes read.
"""
from __future__ import annotations

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.segments import rules as r
from backoffice.segments.catalog import rule_fields
from backoffice.segments.refresh import refresh_all
from models import Customer, Segment, SegmentMembership
from tests.segments.conftest import CUSTOM_SPECS, TODAY

RULES = {
    "rf_accounts": {"op": "and", "items": [
        {"field": "metric.aum", "op": "gte", "value": "50000"},
        {"field": "metric.products_held", "op": "gte", "value": 2}]},
    "rf_flows": {"op": "or", "items": [
        {"field": "metric.avg_balance_3m", "op": "lt", "value": "1000"},
        {"field": "metric.tx_count_90d", "op": "gte", "value": 4},
        {"field": "metric.days_since_transaction", "op": "between", "value": [10, 60]}]},
    "rf_service": {"op": "and", "items": [
        {"field": "metric.satisfaction_avg", "op": "gte", "value": "3"},
        {"field": "metric.days_since_interaction", "op": "lte", "value": 200}]},
    # Last activity before the passes' windows (90 and 365 days): the windowed passes do not
    # see it and the refresh must look it up for exactly these customers.
    "rf_dormant": {"op": "or", "items": [
        {"field": "metric.days_since_transaction", "op": "gte", "value": 100},
        {"field": "metric.days_since_interaction", "op": "gte", "value": 370}]},
    "rf_custom": {"op": "or", "items": [
        {"field": "custom.rt_tags", "op": "any_of", "value": ["a", "c"]},
        {"op": "and", "items": [
            {"field": "custom.rt_note", "op": "contains", "value": "o'neil alpha"},
            {"field": "metric.age", "op": "gte", "value": 40}]},
        {"field": "custom.rt_budget", "op": "gt", "value": "50000.50"}]},
}


def test_refresh_memberships_equal_the_compiled_rules(app, population):
    with app.app_context():
        session = db.session
        for code, rule in RULES.items():
            session.add(Segment(code=code, name=code, kind="segment", rule=rule, active=True,
                                offer_categories=[]))
        session.commit()
        fields = rule_fields(session=session, custom_specs=CUSTOM_SPECS)
        try:
            refresh_all(session, fields, today=TODAY)
            session.commit()
            dialect = session.get_bind().dialect.name
            for code, rule in RULES.items():
                segment = session.scalars(select(Segment).filter_by(code=code)).one()
                members = set(session.scalars(select(SegmentMembership.customer_id).where(
                    SegmentMembership.segment_id == segment.id,
                    SegmentMembership.customer_id.in_(population.ids))))
                expected = set(session.scalars(select(Customer.id).where(
                    Customer.id.in_(population.ids),
                    r.compile_rule(rule, fields, today=TODAY, dialect=dialect))))
                assert members == expected, code
                assert 0 < len(expected) < len(population.ids), code
        finally:
            for segment in session.scalars(select(Segment).where(Segment.code.in_(RULES))):
                segment.active = False
            session.commit()
            _restore_world_tiers(session)
            for pk in population.ids:  # the rule tests compare with the seeded tiers
                session.get(Customer, pk).tier = population.values[pk]["customer.tier"]
            session.commit()


def _restore_world_tiers(session):
    from tests.support.world import CUSTOMERS, TIERS, customer_number

    for key in CUSTOMERS:
        customer = session.scalars(select(Customer).filter_by(
            customer_no=customer_number(None, key))).one()
        customer.tier = TIERS[key]
    session.commit()
