"""``flask crm demo`` (what ``make run`` calls on a fresh clone) leaves a bank that has lived a
day: tiers and segments, a trained and active churn model with scores, dashboard figures, a
campaign run to its evaluation, a consent ledger that agrees with the consent flags, two senior
managers (maker-checker), and an owner for every customer."""
from __future__ import annotations

import datetime as dt

import pytest
from flask_appbuilder.security.sqla.models import Role
from flask_migrate import upgrade
from sqlalchemy import and_, exists, func, select, update

from backoffice.campaigns import evaluation
from backoffice.churn.training import MIN_CLASS_ROWS
from backoffice.extensions import db
from models import Campaign, Customer, Segment, SegmentMembership, Staff
from models.churn import ChurnModel, ChurnScore
from models.consent import CONSENT_CHANNELS, Consent
from models.summaries import DashboardSummary
from tests.support.services import migration_app

CUSTOMERS = 600
BUILT_IN_METRICS = ("customers_by_tier", "new_customers", "lost_customers",
                    "interactions_by_channel", "open_tasks", "transaction_flow")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A fresh database set up as ``make run`` does: migrate, ``crm init``, ``crm demo``."""
    with migration_app(tmp_path_factory.mktemp("demo-first-day")) as app:
        with app.app_context():
            upgrade()
        runner = app.test_cli_runner()
        init = runner.invoke(args=["crm", "init", "--admin-password", "Cobalt-Ledger-Harbour-93!"])
        assert init.exit_code == 0, init.output
        result = runner.invoke(args=["crm", "demo", "--customers", str(CUSTOMERS),
                                     "--seed", "42"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            yield app, result.output
            db.session.remove()


def count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def test_the_command_reports_each_first_day_step(demo):
    _app, output = demo
    assert "first day" in output and "first day incomplete" not in output
    for step in ("consent_statements", "segments", "churn", "campaign", "summaries"):
        assert f"  {step}: " in output, step
    assert "demo logins" in output


def test_every_customer_has_a_tier_and_segments_have_members(demo):
    assert count(select(Customer.id).where(Customer.tier.is_(None))) == 0
    tiers = set(db.session.scalars(select(Customer.tier).distinct()))
    assert len(tiers) >= 2  # not everyone in the fallback tier
    members = count(select(SegmentMembership.customer_id).join(Segment)
                    .where(Segment.kind == "segment"))
    assert members > 0


def test_a_churn_model_learned_from_the_demo_leavers_and_scored_everyone(demo):
    model = db.session.scalar(select(ChurnModel).where(ChurnModel.active.is_(True)))
    assert model is not None
    counts = model.training_config["label"]["counts"]
    assert counts["positive"] >= MIN_CLASS_ROWS and counts["negative"] > counts["positive"]
    assert model.metrics["roc_auc"] > 0.75  # a real signal, not a coin toss
    scorable = count(select(Customer.id).where(Customer.status.in_(("active", "dormant"))))
    scored = count(select(ChurnScore.customer_id).where(ChurnScore.model_id == model.id))
    assert scored == scorable > 0


def test_dashboard_figures_exist_for_every_built_in_metric(demo):
    S = DashboardSummary.__table__
    for metric in BUILT_IN_METRICS:
        if metric == "lost_customers":
            continue  # only if someone left in the year (checked below, the demo has leavers)
        assert count(select(S.c.metric).where(S.c.metric == metric)) > 0, metric
    assert count(select(S.c.metric).where(S.c.metric == "lost_customers")) > 0
    assert count(select(S.c.dim).where(S.c.metric == "customers_by_tier", S.c.dim == "")) == 0


def test_one_campaign_ran_to_its_evaluation_with_maker_checker(demo):
    campaign = db.session.scalar(select(Campaign))
    assert campaign is not None and campaign.status == "closed"
    assert campaign.approved_by_id and campaign.approved_by_id != campaign.created_by_id
    assert campaign.start_on < campaign.end_on < dt.date.today() + dt.timedelta(days=1)
    report = evaluation.evaluate(db.session, campaign).overall
    assert report.target.size > 0 and report.control.size > 0
    assert 0 < report.target.contacted <= report.target.size
    assert 0 < report.target.responded <= report.target.contacted
    assert report.control.contacted == 0  # the control group is never called


def test_two_senior_managers_one_wrote_the_other_approved(demo):
    seniors = db.session.scalars(select(Staff.id).where(
        Staff.roles.any(Role.name == "SeniorManager"))).all()
    assert len(seniors) >= 2
    campaign = db.session.scalar(select(Campaign))
    assert {campaign.created_by_id, campaign.approved_by_id} <= set(seniors)


def test_the_consent_ledger_agrees_with_the_flags(demo):
    total = 0
    for channel in CONSENT_CHANNELS:
        grant = exists(select(Consent.id).where(
            Consent.customer_id == Customer.id, Consent.channel == channel,
            Consent.purpose == "marketing", Consent.granted.is_(True),
            Consent.withdrawn_at.is_(None)))
        flag = getattr(Customer, f"consent_{channel}").is_(True)
        disagree = count(select(Customer.id).where(
            (flag & ~grant) | (~flag & grant)))
        assert disagree == 0, channel
        total += count(select(Customer.id).where(and_(flag, grant)))
    assert total > CUSTOMERS  # several channels per customer on average


def test_greetings_can_reach_the_demo_customers(demo):
    """The greeting selection reads the ledger: customers with a granted channel exist."""
    from backoffice.greetings.selection import GREETING_PURPOSES
    from backoffice.messaging.consent import granted_condition

    reachable = count(select(Customer.id).where(
        granted_condition(Customer.id, "sms", GREETING_PURPOSES)))
    assert reachable > 0


def test_every_customer_has_an_owner(demo):
    assert count(select(Customer.id).where(Customer.owner_id.is_(None))) == 0


def test_a_second_demo_run_is_refused_without_changing_the_ledger(demo):
    app, _output = demo
    before = count(select(Consent.id))
    result = app.test_cli_runner().invoke(args=["crm", "demo", "--customers", "5"])
    assert result.exit_code != 0 and "already" in result.output
    db.session.rollback()
    assert count(select(Consent.id)) == before


def test_flag_grants_leave_existing_statements_alone(demo):
    """The set-based ledger step writes only what no statement covers: run again, it adds
    nothing; a withdrawn customer's refusal stays."""
    from backoffice.messaging.consent import record_flag_grants, withdraw_consent

    customer = db.session.scalar(select(Customer).where(Customer.consent_sms.is_(True)))
    withdraw_consent(customer, "sms", "marketing", source="test")
    db.session.execute(update(Customer).where(Customer.id == customer.id)
                       .values(consent_sms=True))  # a stale flag must not re-grant
    added = record_flag_grants(source="again")
    assert added["sms"] == 0 and sum(added.values()) == 0
    db.session.rollback()
