"""The segment screens: the rule builder saves a structured rule, the live count obeys the
viewer's scope, the refresh fills memberships and counts, needs with evidence and next-best
offers show on the 360 page, and a tier override needs a reason and goes through review.
"""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from backoffice.extensions import db
from models import (
    ChangeRequest,
    Customer,
    Product,
    Segment,
    SegmentCount,
    SegmentMembership,
    TierChange,
)
from tests.support.web import csrf_token
from tests.support.world import VISIBLE

EVERYONE = {"op": "and", "items": []}


def _count(client, rule, form="/campaigns/new"):
    token = csrf_token(client, form)
    return client.post("/segments/count", json={"rule": rule}, headers={"X-CSRFToken": token})


def test_live_count_is_scoped_to_the_viewer(app, world, client_as):
    """rm1 counts only their own book; the senior manager counts everyone; a bad rule is a 422
    with the problem, not a stack trace."""
    rule = {"op": "and", "items": [{"field": "customer.customer_no", "op": "eq", "value": "x"}]}
    senior, rm1 = client_as("senior"), client_as("rm1")
    assert _count(senior, rule).status_code == 422
    with app.app_context():
        total = db.session.scalar(select(db.func.count(Customer.id)))
        own = db.session.scalar(select(db.func.count(Customer.id)).where(
            (Customer.owner_id == world.staff["rm1"]) | (Customer.teller_id == world.staff["rm1"])))
    assert _count(senior, EVERYONE).json["count"] == total
    own_form = f"/segments/override/{world.customers['c_rm1']}"
    assert _count(rm1, EVERYONE, own_form).json["count"] == own
    assert own < total and len(VISIBLE["rm1"]) <= own


def test_rule_builder_page_has_no_json_textarea(app, world, client_as):
    """The builder is a structured form: fields and operators from the catalogue, the rule in
    a hidden input the script maintains."""
    page = client_as("senior").get("/segments/new?kind=segment").get_data(as_text=True)
    assert 'id="rule-builder"' in page and 'type="hidden" name="rule"' in page
    assert "<textarea" not in page
    assert "metric.aum" in page and "metric.days_since_interaction" in page


def test_save_segment_refresh_and_counts(app, world, client_as):
    """A segment saved through the screen is filled by the refresh, with today's count."""
    senior = client_as("senior")
    rule = {"op": "and", "items": [{"field": "metric.aum", "op": "gte", "value": "2000000"}]}
    response = senior.post("/segments/new?kind=segment", data={
        "csrf_token": csrf_token(senior, "/segments/new?kind=segment"), "name": "两百万以上",
        "code": "view_rich", "active": "y", "rule": json.dumps(rule)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    bad = senior.post("/segments/new?kind=segment", data={
        "csrf_token": csrf_token(senior, "/segments/new?kind=segment"), "name": "坏",
        "code": "view_bad", "active": "y",
        "rule": json.dumps({"op": "and", "items": [{"field": "metric.aum", "op": "gte",
                                                    "value": "lots"}]})})
    assert bad.status_code == 200 and "rule.1" in bad.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["crm", "segments", "refresh"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        segment = db.session.scalars(select(Segment).filter_by(code="view_rich")).one()
        segment_id = segment.id
        members = set(db.session.scalars(select(SegmentMembership.customer_id)
                                         .filter_by(segment_id=segment.id)))
        # c_rm2 (2.47M) and c_rm3 (3.70M) hold 2,000,000 or more; c_rm1 (1.23M) does not.
        assert {world.customers["c_rm2"], world.customers["c_rm3"]} <= members
        assert world.customers["c_rm1"] not in members
        count = db.session.scalars(select(SegmentCount).filter_by(segment_id=segment.id)).one()
        assert count.count == len(members) == segment.member_count
        _restore_tiers(world)
    page = client_as("rm1").get(f"/segments/show/{segment_id}").get_data(as_text=True)
    assert "客户c_rm2" not in page and "客户c_rm3" not in page  # not rm1's customers


def test_needs_and_offers_on_the_360_page(app, world, client_as):
    """A need detector's members see the need with its evidence and suitable offers; the
    evidence of money metrics is hidden from a viewer without the deep profile."""
    with app.app_context():
        customer = db.session.get(Customer, world.customers["c_rm2"])
        customer.risk_assessed_on = dt.date.today()
        db.session.add_all([
            Product(code="AAA-NBO-WEALTH", name="稳健理财一号", category="wealth", risk_level="R1"),
            Product(code="NBO-FUND", name="进取基金", category="fund", risk_level="R5"),
            Segment(code="need_view_rich", name="大额理财需求", kind="need", active=True,
                    offer_categories=["wealth", "fund"],
                    rule={"op": "and", "items": [
                        {"field": "metric.aum", "op": "gte", "value": "2000000"}]})])
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["crm", "segments", "refresh"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        _restore_tiers(world)
    pk = world.customers["c_rm2"]
    # The needs panel is on the 360 page's "campaigns and segments" tab.
    page = client_as("rm2").get(f"/customers/show/{pk}/tab/marketing").get_data(as_text=True)
    assert 'data-code="need_view_rich"' in page
    assert "2469135.78" in page  # the owner sees the evidence value
    assert "稳健理财一号" in page and "进取基金" not in page  # R5 is above C3
    teller = client_as("teller1").get(f"/customers/show/{pk}/tab/marketing") \
        .get_data(as_text=True)
    assert 'data-code="need_view_rich"' in teller and "2,469,135.78" not in teller
    assert "2469135.78" not in teller and "***" in teller
    with app.app_context():
        customer = db.session.get(Customer, pk)
        customer.risk_assessed_on = None
        db.session.commit()


def test_tier_override_needs_a_reason_and_review(app, world, client_as):
    """An RM's override becomes a change request; a checker's approval applies it and the
    tier history records the change as an override."""
    rm1 = client_as("rm1")
    pk = world.customers["c_rm1"]
    url = f"/segments/override/{pk}"
    missing = rm1.post(url, data={"csrf_token": csrf_token(rm1, url), "tier": "vip",
                                  "reason": ""})
    assert missing.status_code == 200
    assert "crm-error" in missing.get_data(as_text=True)
    filed = rm1.post(url, data={"csrf_token": csrf_token(rm1, url), "tier": "vip",
                                "reason": "客户要求降级服务"})
    assert filed.status_code == 302 and "/review/show/" in filed.headers["Location"]
    assert client_as("rm3").get(url).status_code == 404  # not rm3's customer
    with app.app_context():
        assert db.session.get(Customer, pk).tier_override is None
        request = db.session.scalars(select(ChangeRequest).where(
            ChangeRequest.customer_id == pk).order_by(ChangeRequest.id.desc())).first()
        from backoffice.review import service
        from models import Staff

        service.approve(db.session.get(Staff, world.staff["bm1"]), request.id)
        customer = db.session.get(Customer, pk)
        assert customer.tier_override == "vip"
        change = db.session.scalars(select(TierChange).where(TierChange.customer_id == pk)
                                    .order_by(TierChange.id.desc())).first()
        assert (change.old_tier, change.new_tier, change.source) == (
            "private_banking", "vip", "override")
        customer.tier_override, customer.tier_override_reason = None, None
        db.session.commit()


def _restore_tiers(world):
    """The refresh re-tiers the world's customers; other tests rely on the seeded tiers."""
    from tests.support.world import TIERS

    for key, cid in world.customers.items():
        db.session.get(Customer, cid).tier = TIERS[key]
    db.session.commit()
