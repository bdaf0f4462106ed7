"""Counts are reads: a branch manager cannot bisect a private-banking customer's assets.

A private-banking customer of branch B1 holds a marker amount, in an account and in a custom
field kept from branch managers. Searching the amount by binary search with the rule builder's
live count, the list filter, the segment member count and the campaign audience preview finds
it for a senior manager (so each search can succeed and the test can fail), while every count
the branch manager of that branch gets is the same whatever the threshold: that customer never
counts for them (``backoffice.segments.guard``, ``backoffice.fields.listing``).
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete

from tests.support.web import csrf_token
from tests.support.world import make_prc_id

MARKER = Decimal("7314159.26")  # the private-banking customer's assets
ORDINARY = Decimal("500.00")  # a mass customer of the same branch, under the search range
LOW, HIGH = 100_000, 10_000_000_000  # the search range, in cents (1,000.00 to 100,000,000.00)
COUNT = re.compile(r"Record Count:?</strong>\s*(\d+)|记录数:?</strong>\s*(\d+)")


@pytest.fixture
def target(app, world):
    """Two customers of B1 sharing an occupation marker: a private-banking one owned by rm1
    holding MARKER, and a mass one owned by rm2; a money custom field only senior managers see,
    holding MARKER on the private-banking customer. Removed afterwards."""
    from backoffice.extensions import db
    from models import Account, Customer, Segment
    from models.fields import CustomFieldDefinition

    tag = uuid.uuid4().hex[:8]
    occupation, key = f"BIS-{tag}", f"bis_{tag}"
    with app.app_context():
        definition = CustomFieldDefinition(
            entity="customer", key=key, label_zh="私行资产", label_en="Private assets",
            field_type="money", visible_roles=["SeniorManager"])
        db.session.add(definition)
        db.session.flush()
        ids = {}
        for serial, (name, tier, owner, balance, custom) in enumerate((
                ("top", "private_banking", "rm1", MARKER, {key: str(MARKER)}),
                ("ordinary", "mass", "rm2", ORDINARY, {}))):
            birth = dt.date(1966, 3, 3 + serial)
            customer = Customer(
                customer_no=f"B{tag}{serial}", name=f"二分{name}", customer_type="individual",
                gender="M", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, 700 + serial), branch_id=world.branches["B1"],
                owner_id=world.staff[owner], risk_tolerance="C3", status="active",
                occupation=occupation, onboarded_on=dt.date(2020, 1, 1), tier=tier,
                custom_fields=custom)
            db.session.add(customer)
            db.session.flush()
            db.session.add(Account(account_no=f"6299{tag}{serial:06d}"[:19],
                                   customer_id=customer.id, product_id=world.product_id,
                                   balance=balance, opened_on=dt.date(2020, 1, 2),
                                   status="open"))
            ids[name] = customer.id
        db.session.commit()
        made = {"occupation": occupation, "key": key, "ids": ids, "definition": definition.id,
                "segments": [], "campaigns": []}
        db.session.remove()
    yield made
    from models import Campaign, SegmentMembership

    with app.app_context():
        db.session.remove()
        customer_ids = list(ids.values())
        db.session.execute(delete(SegmentMembership).where(
            SegmentMembership.customer_id.in_(customer_ids)))
        db.session.execute(delete(Campaign).where(Campaign.id.in_(made["campaigns"])))
        db.session.execute(delete(Segment).where(Segment.id.in_(made["segments"])))
        db.session.execute(delete(Account).where(Account.customer_id.in_(customer_ids)))
        db.session.execute(delete(Customer).where(Customer.id.in_(customer_ids)))
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.id == made["definition"]))
        db.session.commit()


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def bisect(count_at) -> tuple[Decimal, set]:
    """The largest threshold (to the cent) at which ``count_at`` still counts someone, found by
    binary search over [LOW, HIGH], and every count seen on the way."""
    low, high, seen = LOW, HIGH, set()
    while high - low > 1:
        middle = (low + high) // 2
        count = count_at(_money(middle))
        seen.add(count)
        if count > 0:
            low = middle
        else:
            high = middle
    return Decimal(low) / 100, seen


def _rule(occupation, *conditions):
    return {"op": "and", "items": [
        {"field": "customer.occupation", "op": "eq", "value": occupation}, *conditions]}


def _live_count(client, token, rule):
    response = client.post("/segments/count", json={"rule": rule},
                           headers={"X-CSRFToken": token})
    return response


def _live_counter(client, occupation, metric="metric.aum", form="/campaigns/new"):
    token = csrf_token(client, form)

    def count_at(threshold):
        response = _live_count(client, token, _rule(
            occupation, {"field": metric, "op": "gte", "value": threshold}))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["count"]
    return count_at


def test_live_count_cannot_bisect_private_banking_assets(target, client_as):
    """The senior manager's search finds the marker; every count of the branch manager of the
    customer's branch is identical (the customer never counts) for every deep metric."""
    found, seen = bisect(_live_counter(client_as("senior"), target["occupation"]))
    assert found == MARKER and seen == {0, 1}

    bm1 = client_as("bm1")
    for metric in ("metric.aum", "metric.deposit_balance", "metric.avg_balance_3m"):
        found, seen = bisect(_live_counter(bm1, target["occupation"], metric))
        assert seen == {0}, metric
        assert found != MARKER
    # Not a broken count: the branch manager counts both customers without a deep condition,
    # and the mass customer (whose assets they may see) under a deep one.
    token = csrf_token(bm1, "/campaigns/new")
    assert _live_count(bm1, token, _rule(target["occupation"])).json["count"] == 2
    low = {"field": "metric.aum", "op": "gte", "value": "100"}
    assert _live_count(bm1, token, _rule(target["occupation"], low)).json["count"] == 1


def test_owner_may_count_own_private_banking_customer(target, client_as):
    """The owning relationship manager sees that deep profile, so the count includes it."""
    form = f"/segments/override/{target['ids']['top']}"
    found, _seen = bisect(_live_counter(client_as("rm1"), target["occupation"], form=form))
    assert found == MARKER


def test_rule_on_hidden_or_masked_field_is_refused(target, client_as):
    """A condition on a custom field the role does not see, or a prefix / contains on a masked
    field, is a 422 with a message; the senior manager who sees the field gets a count."""
    hidden = {"field": f"custom.{target['key']}", "op": "gte", "value": "1000"}
    bm1, senior = client_as("bm1"), client_as("senior")
    token = csrf_token(bm1, "/campaigns/new")
    refused = _live_count(bm1, token, _rule(target["occupation"], hidden))
    assert refused.status_code == 422 and refused.json["errors"]
    senior_token = csrf_token(senior, "/campaigns/new")
    assert _live_count(senior, senior_token,
                       _rule(target["occupation"], hidden)).json["count"] == 1
    for client, tok in ((bm1, token), (senior, senior_token)):
        for field, op in (("customer.mobile", "contains"), ("customer.id_number", "contains"),
                          ("customer.mobile", "gte"), ("customer.id_number", "eq")):
            response = _live_count(client, tok, _rule(
                target["occupation"], {"field": field, "op": op, "value": "1380013"}))
            assert response.status_code == 422, (field, op)


def _list_counter(client, key):
    def count_at(threshold):
        page = client.get(f"/customers/list/?cf_{key}__from={threshold}&psize_CustomerView=10")
        assert page.status_code == 200
        match = COUNT.search(page.get_data(as_text=True))
        assert match, "the list shows no record count"
        return int(match.group(1) or match.group(2))
    return count_at


def test_list_filter_cannot_bisect_a_field_kept_from_the_role(target, client_as):
    """The customer list filtered by the money field only senior managers see: the senior
    manager's search finds the marker; the branch manager's filter is refused and every count
    is the same (their whole branch), whatever the threshold."""
    found, seen = bisect(_list_counter(client_as("senior"), target["key"]))
    assert found == MARKER and seen == {0, 1}
    bm1 = client_as("bm1")
    found, seen = bisect(_list_counter(bm1, target["key"]))
    assert len(seen) == 1 and found != MARKER
    page = bm1.get(f"/customers/list/?cf_{target['key']}__from=1").get_data(as_text=True)
    assert target["key"] in page  # the refusal names what was asked, as for an unknown field


def test_segment_members_leave_out_deep_profiles_the_viewer_may_not_see(app, target,
                                                                       client_as):
    """A segment whose rule tests AUM: its member count and list for the branch manager (on
    the segment's page and on the segment list) leave out the private-banking customer, and the
    bank-wide counts over time are not shown."""
    from backoffice.extensions import db
    from models import Segment, SegmentMembership

    with app.app_context():
        segment = Segment(kind="segment", code=f"bis_{target['key']}", name="二分测试",
                          priority=100, active=True, offer_categories=[], member_count=1,
                          rule=_rule(target["occupation"], {"field": "metric.aum", "op": "gte",
                                                            "value": "1000"}))
        db.session.add(segment)
        db.session.flush()
        db.session.add(SegmentMembership(segment_id=segment.id,
                                         customer_id=target["ids"]["top"]))
        db.session.commit()
        target["segments"].append(segment.id)
        pk = segment.id
    senior = client_as("senior").get(f"/segments/show/{pk}").get_data(as_text=True)
    manager = client_as("bm1").get(f"/segments/show/{pk}").get_data(as_text=True)
    assert 'id="visible-members">1<' in senior and f"B{target['key'][4:]}0" in senior
    assert 'id="visible-members">0<' in manager and f"B{target['key'][4:]}0" not in manager
    assert "crm-chart" in senior and "crm-chart" not in manager
    # The segment list's member count: the stored bank-wide count is not shown as it is.
    cell = re.compile(rf'data-segment="{pk}">(\d+)<')
    assert cell.search(client_as("senior").get("/segments/").get_data(as_text=True)).group(1) \
        == "1"
    assert cell.search(client_as("bm1").get("/segments/").get_data(as_text=True)).group(1) \
        == "0"


def test_campaign_preview_cannot_bisect(app, world, target, client_as):
    """The audience preview of a draft campaign whose extra rule tests AUM: found by the senior
    manager's search, constant for the branch manager."""
    from backoffice.extensions import db
    from models import Campaign

    with app.app_context():
        campaign = Campaign(name="二分活动", status="draft", product_id=world.product_id,
                            channels=["phone"], target_rule=_rule(target["occupation"]))
        db.session.add(campaign)
        db.session.commit()
        target["campaigns"].append(campaign.id)
        pk = campaign.id

    def counter(client):
        def count_at(threshold):
            with app.app_context():
                stored = db.session.get(Campaign, pk)
                stored.target_rule = _rule(target["occupation"], {
                    "field": "metric.aum", "op": "gte", "value": threshold})
                db.session.commit()
            page = client.get(f"/campaigns/show/{pk}").get_data(as_text=True)
            match = re.search(r'id="gate-candidates">(\d+)<', page)
            assert match, "no preview on the campaign page"
            return int(match.group(1))
        return count_at

    found, seen = bisect(counter(client_as("senior")))
    assert found == MARKER and seen == {0, 1}
    found, seen = bisect(counter(client_as("bm1")))
    assert seen == {0} and found != MARKER


def test_launch_report_counted_over_the_bank_is_shown_only_to_whole_bank_viewers(
        app, world, target, client_as):
    """The gate report stored at launch counts every customer of the bank: the senior manager
    sees it; a branch manager, whose own count could differ, does not."""
    from backoffice.extensions import db
    from models import Campaign

    report = {"candidates": 987654, "passed": 1, "dropped": {}, "dropped_total": 0}
    with app.app_context():
        campaign = Campaign(name="已上线活动", status="running", product_id=world.product_id,
                            channels=["phone"], gate_report=report)
        db.session.add(campaign)
        db.session.commit()
        target["campaigns"].append(campaign.id)
        pk = campaign.id
    assert "987654" in client_as("senior").get(f"/campaigns/show/{pk}").get_data(as_text=True)
    page = client_as("bm1").get(f"/campaigns/show/{pk}")
    assert page.status_code == 200 and "987654" not in page.get_data(as_text=True)
