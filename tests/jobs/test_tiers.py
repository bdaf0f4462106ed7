"""The rule-based tier refresh: one set-based pass placing every customer by the tier rules.

Guards the default tier rules (private banking >= 6,000,000 CNY financial assets, wealth >=
500,000, VIP >= 50,000, else mass; first match wins), the history of upgrades and downgrades,
and that `flask crm segments refresh` still runs it as a job.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.segments.catalog import rule_fields
from backoffice.segments.refresh import active_rules, tier_case
from models import Customer, TierChange
from models.metrics import total_assets_of


def _expected(assets) -> str:
    return ("private_banking" if assets >= 6000000 else "wealth" if assets >= 500000
            else "vip" if assets >= 50000 else "mass")


def test_default_tier_rules_first_match_wins(app):
    """The seeded tier rules as one CASE: the boundaries land in the higher tier."""
    with app.app_context():
        fields = rule_fields(session=db.session, custom_specs=[])
        tiers = active_rules(db.session, "tier")
        assert [t.tier for t in tiers] == ["private_banking", "wealth", "vip", "mass"]
        cases = {"6000000": "private_banking", "5999999.99": "wealth", "500000": "wealth",
                 "50000": "vip", "49999.99": "mass", "0": "mass"}
        for amount, tier in cases.items():
            expr = tier_case(tiers, fields, today=dt.date(2026, 11, 15), dialect="any",
                             metric_source=lambda field, today, dialect, a=amount:
                             select(Decimal(a)).scalar_subquery())
            assert db.session.scalar(select(expr)) == tier, amount


def test_refresh_command_sets_tiers_and_keeps_history(app, world):
    """`flask crm segments refresh` places every customer by assets and records each change
    (old and new tier) in the tier history; an unchanged tier writes no history."""
    from tests.support.world import TIERS

    with app.app_context():
        pk = world.customers["c_rm2"]  # seeded as "mass" with 2.47M assets: refresh upgrades
        before = db.session.scalar(select(db.func.count(TierChange.id))
                                   .where(TierChange.customer_id == pk))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "segments", "refresh"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["status"] == "finished", summary
    with app.app_context():
        rows = db.session.execute(select(Customer.customer_no, Customer.tier,
                                         total_assets_of(Customer.id))).all()
        for customer_no, tier, assets in rows:
            assert tier == _expected(assets), customer_no
        changes = db.session.scalars(select(TierChange).where(TierChange.customer_id == pk)
                                     .order_by(TierChange.id)).all()
        assert len(changes) == before + 1
        assert (changes[-1].old_tier, changes[-1].new_tier) == ("mass", "wealth")
        assert changes[-1].direction == "up" and changes[-1].source == "refresh"
    again = runner.invoke(args=["crm", "segments", "refresh"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert db.session.scalar(select(db.func.count(TierChange.id))
                                 .where(TierChange.customer_id == pk)) == before + 1
        # Put the seeded tiers back: other tests rely on the world's fixed tiers.
        for key, cid in world.customers.items():
            db.session.get(Customer, cid).tier = TIERS[key]
        db.session.commit()
