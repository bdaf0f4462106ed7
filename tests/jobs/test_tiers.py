"""The tier refresh: one set-based UPDATE placing every customer by total financial assets."""
from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import select

from backoffice.extensions import db
from jobs.segments import tier_expression
from models import Customer
from models.metrics import total_assets_of


def test_tier_thresholds_first_match_wins(app):
    with app.app_context():
        cases = {"6000000": "private_banking", "5999999.99": "wealth", "500000": "wealth",
                 "50000": "vip", "49999.99": "mass", "0": "mass"}
        for amount, tier in cases.items():
            got = db.session.scalar(select(tier_expression(select(Decimal(amount))
                                                           .scalar_subquery())))
            assert got == tier, amount


def test_refresh_command_sets_tiers_from_assets(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "segments", "refresh"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    with app.app_context():
        rows = db.session.execute(select(Customer.customer_no, Customer.tier,
                                         total_assets_of(Customer.id))).all()
        for customer_no, tier, assets in rows:
            expected = ("private_banking" if assets >= 6000000 else "wealth" if assets >= 500000
                        else "vip" if assets >= 50000 else "mass")
            assert tier == expected, customer_no
    # Put the seeded tiers back: other tests rely on the world's fixed tiers.
    from tests.support.world import TIERS

    with app.app_context():
        for key, pk in world.customers.items():
            db.session.get(Customer, pk).tier = TIERS[key]
        db.session.commit()
