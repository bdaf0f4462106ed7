"""A campaign end to end through the screens: draft, approval by a senior manager, launch with the
gate and control group, tasks for RMs, scoped targets and outcomes, import, conversions detected
from transactions, the evaluation screen and `flask crm campaign evaluate`.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from models import (
    Account,
    Campaign,
    CampaignTarget,
    Customer,
    FollowUp,
    Product,
    Segment,
    SegmentMembership,
    Transaction,
)
from tests.support.web import csrf_token
from tests.support.world import make_prc_id

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def audience(app, world):
    """Twelve suitable customers (four per RM) in one segment, plus one without consent."""
    with app.app_context():
        session = db.session
        product = Product(code="CMP-WEALTH", name="营销理财", category="wealth", risk_level="R2")
        segment = Segment(code="cmp_audience", name="营销受众", kind="segment",
                          rule={"op": "and", "items": []}, active=False)
        session.add_all([product, segment])
        session.flush()
        owners = {"rm1": "B1", "rm2": "B1", "rm3": "B2"}
        ids = {}
        serial = 0
        for owner, branch in owners.items():
            for n in range(4 + (owner == "rm1")):
                serial += 1
                customer = Customer(
                    customer_no=f"CMP{serial:06d}", name=f"营销客户{serial}",
                    branch_id=world.branches[branch], owner_id=world.staff[owner],
                    id_type="PRC_ID", id_number=make_prc_id(dt.date(1980, 1, 1), 900 + serial),
                    birth_date=dt.date(1980, 1, 1), risk_tolerance="C3",
                    risk_assessed_on=TODAY - dt.timedelta(days=10), status="active",
                    consent_phone=n != 4, consent_sms=True, custom_fields={})
                if n == 4:  # the fifth of rm1: no consent on any campaign channel
                    customer.consent_sms = False
                session.add(customer)
                session.flush()
                session.add(SegmentMembership(segment_id=segment.id, customer_id=customer.id))
                ids[customer.customer_no] = (customer.id, owner)
        session.commit()
        result = {"product_id": product.id, "segment_id": segment.id, "customers": ids}
        db.session.remove()
    return result


def _post(client, url, data, form_url, **kwargs):
    return client.post(url, data={"csrf_token": csrf_token(client, form_url), **data},
                       **kwargs)


def test_campaign_from_draft_to_evaluation(app, world, client_as, audience):
    bm1, senior, rm1 = client_as("bm1"), client_as("senior"), client_as("rm1")
    response = _post(bm1, "/campaigns/new", {
        "name": "秋季理财", "product_id": str(audience["product_id"]),
        "target_segment_ids": [str(audience["segment_id"])], "channels": ["phone", "sms"],
        "start_on": TODAY.isoformat(), "end_on": (TODAY + dt.timedelta(days=30)).isoformat(),
        "offer": "首购加息 0.5%", "control_share": "0.25", "control_seed": "4",
        "message_template": "尊敬的客户", "rule": '{"op": "and", "items": []}'},
        "/campaigns/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    pk = int(re.search(r"/campaigns/show/(\d+)", response.headers["Location"]).group(1))
    show = bm1.get(f"/campaigns/show/{pk}").get_data(as_text=True)
    # The preview counts the audience the viewer may see: bm1's branch B1 (rm1's 5, rm2's 4).
    assert 'id="gate-candidates">9<' in show
    assert 'data-reason="consent">1<' in show

    url = f"/campaigns/show/{pk}"
    assert _post(bm1, f"/campaigns/submit/{pk}", {}, url).status_code == 302
    # A branch manager has no approval right: the route does not exist for them.
    assert _post(bm1, f"/campaigns/approve/{pk}", {}, "/campaigns/new").status_code == 404
    assert _post(senior, f"/campaigns/approve/{pk}", {}, url).status_code == 302
    # A small audience: the launch is held with the control-split warning until confirmed.
    assert _post(bm1, f"/campaigns/launch/{pk}", {}, url).status_code == 302
    with app.app_context():
        assert db.session.get(Campaign, pk).status == "approved"
    assert 'id="control-split-warning"' in bm1.get(url).get_data(as_text=True)
    assert _post(bm1, f"/campaigns/launch/{pk}", {"confirm_split": "1"},
                 url).status_code == 302

    with app.app_context():
        campaign = db.session.get(Campaign, pk)
        from models import JobRun

        run = db.session.scalars(select(JobRun).where(JobRun.name == "jobs.campaigns.launch")
                                 .order_by(JobRun.id.desc())).first()
        assert campaign.status == "running", run and (run.status, run.error)
        report = campaign.gate_report
        assert report["candidates"] == 13 and report["passed"] == 12
        assert report["dropped"]["consent"] == 1
        targets = db.session.scalars(select(CampaignTarget).where(
            CampaignTarget.campaign_id == pk)).all()
        assert len(targets) == 12
        tasks = db.session.scalars(select(FollowUp).where(
            FollowUp.notes == f"campaign #{pk}")).all()
        phone_targets = [t for t in targets if t.target_group == "target"]
        assert len(tasks) == len(phone_targets) == report["groups"]["target"]
        assert {t.assignee_id for t in tasks} <= {world.staff[u] for u in ("rm1", "rm2", "rm3")}
        assert all(t.follow_up_id for t in phone_targets)
        rm1_targets = [t for t in targets if t.assignee_id == world.staff["rm1"]]
        rm3_target = next(t for t in targets if t.assignee_id == world.staff["rm3"])
        mine = rm1_targets[0]

    # rm1 sees their own targets only, records an outcome on one, and cannot reach rm3's.
    page = rm1.get(f"/campaigns/show/{pk}").get_data(as_text=True)
    assert f'id="target-total">{len(rm1_targets)}<' in page
    assert "营销客户9" not in page
    ok = _post(rm1, f"/campaigns/outcome/{pk}", {"target_id": mine.id, "responded": "y",
                                                   "converted": "y", "amount": "50000"}, url)
    assert ok.status_code == 302
    assert _post(rm1, f"/campaigns/outcome/{pk}", {"target_id": rm3_target.id,
                                                     "converted": "y"}, url).status_code == 404

    # An import: one good row, one unknown customer, one bad amount.
    with app.app_context():
        numbers = {pk_: no for no, (pk_, _o) in audience["customers"].items()}
    other = next(t for t in rm1_targets if t.id != mine.id)
    csv = ("customer_no,responded,converted,amount\n"
           f"{numbers[other.customer_id]},yes,no,\nNOPE01,yes,yes,1\n"
           f"{numbers[rm1_targets[-1].customer_id]},yes,yes,abc\n")
    imported = rm1.post(f"/campaigns/import/{pk}", data={
        "csrf_token": csrf_token(rm1, url), "file": (io.BytesIO(csv.encode()), "o.csv")},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "NOPE01" in imported and ("Line 4" in imported or "第 4" in imported)

    # A purchase of the product by an rm3 customer within the window is detected.
    with app.app_context():
        account = Account(account_no="6222999900001111", customer_id=rm3_target.customer_id,
                          product_id=audience["product_id"], balance=Decimal(80000),
                          opened_on=TODAY, status="open")
        db.session.add(account)
        db.session.flush()
        db.session.add(Transaction(account_id=account.id, customer_id=rm3_target.customer_id,
                                   occurred_at=dt.datetime.combine(TODAY, dt.time(3)),
                                   amount=Decimal(80000), direction="in", channel="mobile",
                                   type="wealth_purchase"))
        db.session.commit()
    assert _post(senior, f"/campaigns/detect/{pk}", {}, url).status_code == 302
    with app.app_context():
        detected = db.session.get(CampaignTarget, rm3_target.id)
        assert detected.converted_at is not None and detected.outcome_source == "transaction"
        assert detected.converted_amount == Decimal(80000)

    evaluation = senior.get(f"/campaigns/evaluation/{pk}").get_data(as_text=True)
    assert 'id="by-branch"' in evaluation and "crm-chart" in evaluation
    mine_only = rm1.get(f"/campaigns/evaluation/{pk}").get_data(as_text=True)
    assert "Test Branch Two" not in mine_only and "Test Branch Two" in evaluation

    result = app.test_cli_runner().invoke(args=["crm", "campaign", "evaluate", str(pk)])
    assert result.exit_code == 0, result.output
    assert "秋季理财" in result.output and "Test Branch Two" in result.output


@pytest.mark.parametrize("amount, problem", [
    ("1E1000000", "The amount is too large."), ("1e20", "The amount is too large."),
    ("-1", "The amount cannot be negative."), ("abc", "The amount must be a number."),
    ("NaN", "The amount must be a number."), ("-Infinity", "The amount must be a number.")])
def test_an_outcome_amount_is_checked_before_anything_is_recorded(app, amount, problem):
    """An amount no conversion can have is the form's message (an import's row message),
    never an overflow in Python or in the database's Numeric(18, 2)."""
    from flask_babel import lazy_gettext

    from backoffice.campaigns import service

    target = CampaignTarget(target_group="target")  # not added: nothing to write
    with app.app_context():
        with pytest.raises(service.CampaignRefused) as caught:
            service.record_outcome(target, responded=True, converted=True, amount=amount)
        assert str(caught.value.errors["amount"]) == str(lazy_gettext(problem))
    assert target.converted_at is None and target.converted_amount is None


def test_approval_needs_a_reviewer_other_than_the_author(app, world, audience):
    """Even a senior manager cannot approve their own campaign."""
    from backoffice.campaigns import service

    with app.app_context():
        senior = db.session.get(__import__("models").Staff, world.staff["senior"])
        campaign = Campaign(name="自批", status="submitted", product_id=audience["product_id"],
                            channels=["sms"], target_tiers=[], target_segment_ids=[],
                            target_rule={"op": "and", "items": []}, custom_fields={},
                            created_by_id=senior.id, control_share=Decimal("0.1"))
        db.session.add(campaign)
        db.session.commit()
        with pytest.raises(service.CampaignRefused):
            service.transition(campaign, "approve", senior, may_approve=True)
        db.session.rollback()
        assert db.session.get(Campaign, campaign.id).status == "submitted"


def test_campaign_custom_fields_are_on_the_form(app, world, client_as, audience):
    """A custom field defined for campaigns gets an input on the campaign form and its typed
    value is stored in ``campaign.custom_fields`` (no raw JSON anywhere)."""
    from models.fields import CustomFieldDefinition

    with app.app_context():
        definition = CustomFieldDefinition(entity="campaign", key="cmp_budget_code",
                                           label_zh="预算编号", label_en="Budget code",
                                           field_type="text", status="active")
        db.session.add(definition)
        db.session.commit()
        definition_id = definition.id
    try:
        bm1 = client_as("bm1")
        form = bm1.get("/campaigns/new").get_data(as_text=True)
        assert 'name="cf_cmp_budget_code"' in form
        response = _post(bm1, "/campaigns/new", {
            "name": "带自定义字段", "channels": ["sms"], "control_share": "0.1",
            "control_seed": "0", "cf_cmp_budget_code": "BUD-2026-07",
            "rule": '{"op": "and", "items": []}'}, "/campaigns/new")
        assert response.status_code == 302, response.get_data(as_text=True)[:1500]
        pk = int(re.search(r"/campaigns/show/(\d+)", response.headers["Location"]).group(1))
        with app.app_context():
            assert db.session.get(Campaign, pk).custom_fields == {
                "cmp_budget_code": "BUD-2026-07"}
        assert "BUD-2026-07" in bm1.get(f"/campaigns/show/{pk}").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.execute(CustomFieldDefinition.__table__.delete().where(
                CustomFieldDefinition.__table__.c.id == definition_id))
            db.session.commit()
