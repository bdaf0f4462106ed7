"""Imported balances count: a customer field marked as financial assets (or annual volume)
values customers alike in the churn value band, the tiers and the rule builder.

Four customers of branch B1 with no account and no transaction, as after a bank's first import
of balances as custom fields: ``rich`` (800,000.00 imported, a private-banking customer of rm1),
``middle`` (100,000.00, mass, rm2), ``volume`` (2,500,000.00 of imported annual volume, mass,
rm2) and ``plain`` (nothing). Unmarked, every one is "low value" (a high-risk one would be P3);
marked, they land in P1 / P2 / P1 / P3, the bank's tier rules on financial assets make them
wealth / VIP / mass / mass, and the rule builder counts them, within what each viewer may see
of the deep profile.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from tests.support.web import csrf_token
from tests.support.world import make_prc_id

RICH = Decimal("800000.00")
MIDDLE = Decimal("100000.00")
VOLUME = Decimal("2500000.00")


@pytest.fixture
def imported(app, world):
    from backoffice.extensions import db
    from models import Customer
    from models.fields import CustomFieldDefinition

    tag = uuid.uuid4().hex[:8]
    assets_key, volume_key, occupation = f"imp_bal_{tag}", f"imp_vol_{tag}", f"IMP-{tag}"
    people = {"rich": ("private_banking", "rm1", {assets_key: str(RICH)}),
              "middle": ("mass", "rm2", {assets_key: str(MIDDLE)}),
              "volume": ("mass", "rm2", {volume_key: str(VOLUME)}),
              "plain": ("mass", "rm2", {})}
    with app.app_context():
        definitions = [CustomFieldDefinition(entity="customer", key=assets_key,
                                             label_zh="导入资产", label_en="Imported assets",
                                             field_type="money", value_roles=[]),
                       CustomFieldDefinition(entity="customer", key=volume_key,
                                             label_zh="导入年交易量", label_en="Imported volume",
                                             field_type="money", value_roles=[])]
        db.session.add_all(definitions)
        ids = {}
        for serial, (name, (tier, owner, custom)) in enumerate(people.items()):
            birth = dt.date(1970, 5, 1 + serial)
            customer = Customer(
                customer_no=f"I{tag}{serial}", name=f"导入{name}", customer_type="individual",
                gender="F", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, 800 + serial), branch_id=world.branches["B1"],
                owner_id=world.staff[owner], risk_tolerance="C3", status="active",
                occupation=occupation, onboarded_on=dt.date(2021, 1, 1), tier=tier,
                custom_fields=custom)
            db.session.add(customer)
            db.session.flush()
            ids[name] = customer.id
        db.session.commit()
        made = {"ids": ids, "occupation": occupation, "assets_key": assets_key,
                "volume_key": volume_key, "definitions": [d.id for d in definitions]}
        db.session.remove()
    yield made
    with app.app_context():
        db.session.remove()
        db.session.execute(delete(Customer).where(Customer.id.in_(list(ids.values()))))
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.id.in_(made["definitions"])))
        db.session.commit()


def _mark(app, made, assets: bool):
    from backoffice.extensions import db
    from models.fields import CustomFieldDefinition

    with app.app_context():
        for pk in made["definitions"]:
            definition = db.session.get(CustomFieldDefinition, pk)
            role = "assets" if definition.key == made["assets_key"] else "volume"
            definition.value_roles = [role] if assets else []
        db.session.commit()
        db.session.remove()


def _scored_bands(app, made) -> dict:
    """The value bands the scoring job writes for the four customers (rolled back after)."""
    from backoffice.churn import scoring
    from backoffice.extensions import db
    from models.churn import ChurnScore

    with app.app_context():
        try:
            scoring.run(db.session, as_of=dt.datetime(2026, 3, 2, 2), create_tasks=False)
            rows = db.session.execute(select(ChurnScore.customer_id, ChurnScore.value_band)
                                      .where(ChurnScore.customer_id.in_(
                                          list(made["ids"].values())))).all()
        finally:
            db.session.rollback()
            db.session.remove()
    by_id = dict(rows)
    return {name: by_id.get(pk) for name, pk in made["ids"].items()}


def test_marked_imported_assets_move_high_risk_customers_into_p1_p2(app, imported):
    """Unmarked every one is low value (P3 at high risk); marked: P1, P2, P1 (volume), P3."""
    from backoffice.churn import rules

    _mark(app, imported, assets=False)
    before = _scored_bands(app, imported)
    assert before == {"rich": "low", "middle": "low", "volume": "low", "plain": "low"}
    _mark(app, imported, assets=True)
    after = _scored_bands(app, imported)
    assert after == {"rich": "high", "middle": "medium", "volume": "high", "plain": "low"}
    names = list(after)
    tiers = rules.warning_tiers(["high"] * len(names), [after[n] for n in names])
    assert dict(zip(names, tiers)) == {"rich": "P1", "middle": "P2", "volume": "P1",
                                       "plain": "P3"}


def test_value_band_adds_marked_fields_to_accounts_and_transactions():
    """The pure band: the marked amounts add to what accounts and transactions give."""
    import pandas as pd

    from backoffice.churn import rules

    features = pd.DataFrame({"assets": [30000.0, 30000.0, 0.0], "volume_365d": [0.0, 0, 1e6]},
                            index=[1, 2, 3])
    marked = pd.DataFrame({"assets": [470000.0, 0.0], "volume": [0.0, 1e6]}, index=[1, 3])
    assert list(rules.value_bands(features)) == ["low", "low", "medium"]
    assert list(rules.value_bands(features, marked=marked)) == ["high", "low", "high"]


def _fields():
    from backoffice.extensions import db
    from backoffice.segments.catalog import rule_fields

    return rule_fields(session=db.session)


def test_default_tier_rules_count_the_marked_field(app, imported):
    """The seeded tier rules (wealth ≥ 500,000, VIP ≥ 50,000 of financial assets), run by the
    set-based refresh, tier the imported-balance customers by their marked field."""
    from backoffice.extensions import db
    from backoffice.segments.refresh import refresh_all
    from models import Customer

    expected = {False: {"rich": "mass", "middle": "mass", "volume": "mass", "plain": "mass"},
                True: {"rich": "wealth", "middle": "vip", "volume": "mass", "plain": "mass"}}
    for marked, tiers_wanted in expected.items():
        _mark(app, imported, assets=marked)
        with app.app_context():
            try:
                refresh_all(db.session, _fields(), today=dt.date(2026, 3, 2))
                tiers = dict(db.session.execute(select(Customer.id, Customer.tier).where(
                    Customer.id.in_(list(imported["ids"].values())))).all())
            finally:
                db.session.rollback()
                db.session.remove()
        assert {name: tiers[pk] for name, pk in imported["ids"].items()} == tiers_wanted


def test_rule_builder_counts_marked_assets_within_the_deep_profile_rule(app, imported,
                                                                        client_as):
    """The live count of "AUM ≥ X" sees the imported amounts; a branch manager still never
    counts the private-banking customer (its assets are deep profile they may not see)."""
    from backoffice.extensions import db
    from backoffice.segments import rules as r

    _mark(app, imported, assets=True)

    def rule(threshold):
        return {"op": "and", "items": [
            {"field": "customer.occupation", "op": "eq", "value": imported["occupation"]},
            {"field": "metric.aum", "op": "gte", "value": threshold}]}

    with app.app_context():
        fields = _fields()
        condition = r.compile_rule(r.validate(rule("50000"), fields), fields,
                                   today=dt.date(2026, 3, 2),
                                   dialect=db.session.get_bind().dialect.name)
        from models import Customer

        assert db.session.scalar(select(func.count(Customer.id)).where(condition)) == 2
        db.session.remove()

    def live(client, threshold):
        token = csrf_token(client, "/campaigns/new")
        response = client.post("/segments/count", json={"rule": rule(threshold)},
                               headers={"X-CSRFToken": token})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["count"]

    senior, bm1 = client_as("senior"), client_as("bm1")
    assert (live(senior, "50000"), live(senior, "500000"), live(senior, "800000.01")) == (2, 1, 0)
    # bm1 sees the mass customer's assets, never the private-banking one's.
    assert (live(bm1, "50000"), live(bm1, "500000"), live(bm1, "100000.01")) == (1, 0, 0)


def test_the_customer_page_counts_marked_assets(app, client_as, imported):
    """The 360 page's total financial assets is the same definition: accounts plus marked
    fields (an imported balance counts there once it is marked)."""
    import re

    pk = imported["ids"]["rich"]

    def total(username):
        page = client_as(username).get(f"/customers/show/{pk}").get_data(as_text=True)
        found = re.search(r'id="total-assets">([^<]*)<', page)
        return found.group(1) if found else None

    assert total("rm1") == "0.00"
    _mark(app, imported, assets=True)
    assert total("rm1") == f"{RICH:,.2f}"
    # a branch manager may not see a private-banking customer's assets: still withheld
    assert total("bm1") != f"{RICH:,.2f}"
