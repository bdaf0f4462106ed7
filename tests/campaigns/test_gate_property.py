"""Property: no campaign target list ever holds a customer who fails the suitability gate.

Hypothesis draws customers (risk tolerance, assessment age, consents, age, status), a product
risk level, channels and a control share; the campaign is launched through the real use case
(SQL gate, control split, batch insert) and every target — in either group — is checked against
the gate rule stated in plain Python. The converse holds too: every audience member who passes
is targeted, so the gate drops exactly the customers it must.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backoffice import suitability
from backoffice.campaigns import gate, service
from backoffice.extensions import db
from backoffice.segments.catalog import rule_fields
from models import Campaign, CampaignTarget, Customer, Product, Segment, SegmentMembership
from tests.support.world import make_prc_id

TODAY = dt.date(2026, 11, 15)
_serial = itertools.count(1)

customers = st.lists(st.fixed_dictionaries({
    "risk_tolerance": st.sampled_from([None, "C1", "C2", "C3", "C4", "C5"]),
    "assessed_days_ago": st.one_of(st.none(), st.integers(0, 800)),
    "consent_sms": st.booleans(), "consent_email": st.booleans(),
    "consent_phone": st.booleans(), "consent_wechat": st.booleans(),
    "age": st.one_of(st.none(), st.integers(18, 90)),
    "status": st.sampled_from(["active", "active", "dormant"]),
}), min_size=1, max_size=8)
channels = st.lists(st.sampled_from(["phone", "sms", "email", "wechat"]), min_size=1,
                    max_size=4, unique=True)


def _insert(session, profile, branch_id, segment_id):
    serial = next(_serial)
    birth = (None if profile["age"] is None else
             dt.date(TODAY.year - profile["age"], TODAY.month, 1))
    assessed = (None if profile["assessed_days_ago"] is None
                else TODAY - dt.timedelta(days=profile["assessed_days_ago"]))
    customer = Customer(
        customer_no=f"GATE{serial:06d}", name=f"适当性{serial}", branch_id=branch_id,
        id_type="PRC_ID", id_number=make_prc_id(birth or dt.date(1980, 1, 1), 700 + serial),
        birth_date=birth, risk_tolerance=profile["risk_tolerance"], risk_assessed_on=assessed,
        status=profile["status"], custom_fields={},
        **{k: profile[k] for k in ("consent_sms", "consent_email", "consent_phone",
                                   "consent_wechat")})
    session.add(customer)
    session.flush()
    session.add(SegmentMembership(segment_id=segment_id, customer_id=customer.id))
    return customer


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(profiles=customers, risk=st.sampled_from(["R1", "R2", "R3", "R4", "R5"]),
       chosen=channels, share=st.sampled_from(["0", "0.2", "0.5"]))
def test_targets_always_pass_the_gate(app, world, profiles, risk, chosen, share):
    with app.app_context():
        session = db.session
        serial = next(_serial)
        product = Product(code=f"GATE-P{serial}", name="适当性产品", category="wealth",
                          risk_level=risk, active=False)  # not offered on 360 pages
        segment = Segment(code=f"gate_seg_{serial}", name="gate", kind="segment",
                          rule={"op": "and", "items": []}, active=False)
        session.add_all([product, segment])
        session.flush()
        people = [_insert(session, p, world.branches["B1"], segment.id) for p in profiles]
        campaign = Campaign(name=f"gate {serial}", status="approved", product_id=product.id,
                            target_segment_ids=[segment.id], target_tiers=[],
                            target_rule={"op": "and", "items": []}, channels=chosen,
                            start_on=TODAY, end_on=TODAY + dt.timedelta(days=30),
                            control_share=Decimal(share), control_seed=1, custom_fields={})
        session.add(campaign)
        session.commit()
        report = service.launch(campaign.id, rule_fields(session=session, custom_specs=[]),
                                today=TODAY)
        targeted = set(session.scalars(select(CampaignTarget.customer_id)
                                       .where(CampaignTarget.campaign_id == campaign.id)))
        passing = set()
        for person in people:
            values = {k: getattr(person, k) for k in (
                "risk_tolerance", "risk_assessed_on", "birth_date", "consent_sms",
                "consent_email", "consent_phone", "consent_wechat")}
            failures = gate.python_failures(values, risk, chosen, TODAY,
                                            suitability.DEFAULT_VALIDITY_DAYS)
            if person.id in targeted:
                assert not failures, (values, risk, chosen, failures)
            if not failures and person.status == "active":
                passing.add(person.id)
        assert targeted == passing
        active = sum(1 for p in people if p.status == "active")
        assert report["candidates"] == active
        assert report["passed"] == len(passing)
        assert sum(report["groups"].values()) == len(passing)
        db.session.remove()
