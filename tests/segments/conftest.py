"""A population of customers with varied holdings, activity and custom values, for rule tests.

Every metric is also computed here in plain Python from the same rows, independently of the SQL
in ``backoffice.segments.metrics``, so a test can compare the compiled SQL rule with a Python
evaluation of the same rule over the same customers.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from backoffice.fields.registry import Choice, FieldSpec

TODAY = dt.date(2026, 11, 15)
POPULATION = 40
PREFIX = "RULE"
CATEGORIES = ("deposit", "time_deposit", "wealth", "credit_card", "loan")

CUSTOM_SPECS = [
    FieldSpec(id=None, entity="customer", key="rt_score", type="integer", label_zh="分",
              label_en="Score"),
    FieldSpec(id=None, entity="customer", key="rt_rate", type="decimal", label_zh="率",
              label_en="Rate"),
    FieldSpec(id=None, entity="customer", key="rt_budget", type="money", label_zh="预算",
              label_en="Budget"),
    FieldSpec(id=None, entity="customer", key="rt_since", type="date", label_zh="日",
              label_en="Since"),
    FieldSpec(id=None, entity="customer", key="rt_note", type="text", label_zh="注",
              label_en="Note"),
    FieldSpec(id=None, entity="customer", key="rt_vip", type="boolean", label_zh="是",
              label_en="Flag"),
    FieldSpec(id=None, entity="customer", key="rt_industry", type="choice", label_zh="行业",
              label_en="Industry",
              choices=tuple(Choice(v, v, v) for v in ("retail", "it", "farm"))),
    FieldSpec(id=None, entity="customer", key="rt_tags", type="multi_choice", label_zh="标签",
              label_en="Tags", choices=tuple(Choice(v, v, v) for v in ("a", "b", "c"))),
]


def years_between(earlier: dt.date, today: dt.date) -> int:
    return today.year - earlier.year - ((today.month, today.day) < (earlier.month, earlier.day))


class Population:
    """Ids of the seeded customers and their values, as plain Python computed them."""

    def __init__(self):
        self.ids: list[int] = []
        self.values: dict[int, dict] = {}


def _custom_values(rng: random.Random) -> dict:
    values = {}
    if rng.random() < 0.85:
        values["rt_score"] = rng.randint(0, 10)
    if rng.random() < 0.85:
        values["rt_rate"] = str(Decimal(rng.randint(0, 500)) / 100)
    if rng.random() < 0.85:
        values["rt_budget"] = str(Decimal(rng.randint(0, 10**7)) / 100)
    if rng.random() < 0.85:
        values["rt_since"] = (dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))
                              ).isoformat()
    if rng.random() < 0.85:
        values["rt_note"] = rng.choice(["Alpha plan", "beta", "Gamma ray", "alphabet"])
    if rng.random() < 0.85:
        values["rt_vip"] = rng.random() < 0.5
    if rng.random() < 0.85:
        values["rt_industry"] = rng.choice(["retail", "it", "farm"])
    if rng.random() < 0.85:
        values["rt_tags"] = sorted(rng.sample(["a", "b", "c"], rng.randint(0, 3)))
    return values


def seed_population(session, world, seed: int = 7) -> Population:
    from models import Account, Customer, Interaction, Product, Transaction
    from tests.support.world import make_prc_id

    rng = random.Random(seed)
    products = {}
    for category in CATEGORIES:
        code = f"{PREFIX}-{category}"
        product = session.query(Product).filter_by(code=code).one_or_none()
        if product is None:
            product = Product(code=code, name=f"规则测试{category}", category=category,
                              risk_level="R2")
            session.add(product)
            session.flush()
        products[category] = product
    population = Population()
    start90 = dt.datetime.combine(TODAY, dt.time()) - dt.timedelta(days=89)
    branch_ids = list(world.branches.values())
    for serial in range(POPULATION):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 60 * 365))
        if serial == 0:
            birth = dt.date(TODAY.year - 55, TODAY.month, TODAY.day)  # exactly 55 today
        onboarded = TODAY - dt.timedelta(days=rng.randint(0, 15 * 365))
        customer = Customer(
            customer_no=f"{PREFIX}{serial:06d}", name=f"规则客户{serial}",
            customer_type=rng.choice(["individual", "corporate"]),
            gender=rng.choice(["M", "F"]), birth_date=birth, id_type="PRC_ID",
            id_number=make_prc_id(birth, 500 + serial), branch_id=rng.choice(branch_ids),
            risk_tolerance=rng.choice(["C1", "C2", "C3", "C4", "C5", None]),
            risk_assessed_on=TODAY - dt.timedelta(days=rng.randint(0, 800)),
            status=rng.choice(["active", "active", "dormant"]), onboarded_on=onboarded,
            occupation=rng.choice(["Teacher", "engineer", "Farmer", None]),
            consent_sms=rng.random() < 0.5, consent_phone=rng.random() < 0.5,
            tier=rng.choice(["mass", "vip", "wealth"]), custom_fields=_custom_values(rng))
        session.add(customer)
        session.flush()
        values = {"aum": Decimal(0), "deposit_balance": Decimal(0), "products": set(),
                  "credit_cards_held": 0}
        asset_accounts = set()
        for _ in range(rng.randint(0, 4)):
            category = rng.choice(CATEGORIES)
            status = rng.choice(["open", "open", "open", "closed"])
            balance = Decimal(rng.choice([0, rng.randint(1, 80000), rng.randint(80000,
                                                                             9000000)]))
            account = Account(account_no=f"62{serial:04d}{rng.randint(0, 10**10):010d}",
                              customer_id=customer.id, product_id=products[category].id,
                              balance=balance, opened_on=onboarded, status=status)
            session.add(account)
            session.flush()
            if status == "open":
                values["products"].add(products[category].id)
                if category not in ("loan", "credit_card"):
                    values["aum"] += balance
                    asset_accounts.add(account.id)
                if category == "deposit":
                    values["deposit_balance"] += balance
                if category == "credit_card":
                    values["credit_cards_held"] += 1
            for _ in range(rng.randint(0, 6)):
                when = (dt.datetime.combine(TODAY, dt.time(rng.randint(0, 23)))
                        - dt.timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 59)))
                session.add(Transaction(
                    account_id=account.id, customer_id=customer.id, occurred_at=when,
                    amount=Decimal(rng.randint(1, 500000)) / 100,
                    direction=rng.choice(["in", "out"]), channel="mobile",
                    type=rng.choice(["salary", "spending", "transfer_in"])))
        for _ in range(rng.randint(0, 5)):
            when = (dt.datetime.combine(TODAY, dt.time(9))
                    - dt.timedelta(days=rng.randint(0, 400)))
            session.add(Interaction(
                customer_id=customer.id, occurred_at=when, channel="phone",
                direction="inbound", topic=rng.choice(["inquiry", "complaint", "service"]),
                summary="规则测试", satisfaction=rng.choice([None, 1, 2, 3, 4, 5]),
                complaint=rng.random() < 0.3, custom_fields={}))
        session.flush()
        values["churn"] = _churn_score(session, customer.id, rng)
        population.ids.append(customer.id)
        population.values[customer.id] = _python_values(session, customer, values,
                                                        asset_accounts, start90)
    session.commit()
    return population


def _churn_score(session, customer_id, rng):
    """A churn score for most customers (when the churn room's table exists)."""
    try:
        from models.churn import RISK_BANDS, VALUE_BANDS, WARNING_TIERS, ChurnScore
    except ImportError:
        return "none"
    if rng.random() < 0.2:
        return None
    probability = round(rng.random(), 3)
    session.add(ChurnScore(customer_id=customer_id, probability=probability,
                           risk_band=RISK_BANDS[0], value_band=VALUE_BANDS[0],
                           warning_tier=WARNING_TIERS[0], reasons=[], signals=[]))
    session.flush()
    return Decimal(str(probability))


def _python_values(session, customer, values, asset_accounts, start90) -> dict:
    """Every rule field of one customer, computed in plain Python from its rows."""
    from models import Interaction, Transaction

    txs = session.query(Transaction).filter_by(customer_id=customer.id).all()
    interactions = session.query(Interaction).filter_by(customer_id=customer.id).all()
    midnight = dt.datetime.combine(TODAY, dt.time())

    def since(days):
        return midnight - dt.timedelta(days=days - 1)

    drift = sum(((t.amount if t.direction == "in" else -t.amount)
                 * Decimal((t.occurred_at - start90).total_seconds() / 86400 / 90))
                for t in txs if t.account_id in asset_accounts and t.occurred_at >= start90)
    satisfaction = [i.satisfaction for i in interactions
                    if i.satisfaction is not None and i.occurred_at >= since(365)]
    last_interaction = max((i.occurred_at for i in interactions), default=None)
    last_tx = max((t.occurred_at for t in txs), default=None)
    out = {
        "metric.aum": values["aum"],
        "metric.avg_balance_3m": values["aum"] - Decimal(drift),
        "metric.deposit_balance": values["deposit_balance"],
        "metric.tx_count_30d": sum(1 for t in txs if t.occurred_at >= since(30)),
        "metric.tx_count_90d": sum(1 for t in txs if t.occurred_at >= since(90)),
        "metric.tx_amount_30d": sum((t.amount for t in txs if t.occurred_at >= since(30)),
                                    Decimal(0)),
        "metric.tx_amount_90d": sum((t.amount for t in txs if t.occurred_at >= since(90)),
                                    Decimal(0)),
        "metric.salary_count_90d": sum(1 for t in txs
                                       if t.occurred_at >= since(90) and t.type == "salary"),
        "metric.products_held": len(values["products"]),
        "metric.credit_cards_held": values["credit_cards_held"],
        "metric.inquiries_30d": sum(1 for i in interactions
                                    if i.occurred_at >= since(30) and i.topic == "inquiry"),
        "metric.complaints_90d": sum(1 for i in interactions
                                     if i.occurred_at >= since(90) and i.complaint),
        "metric.satisfaction_avg": (Decimal(sum(satisfaction)) / len(satisfaction)
                                    if satisfaction else None),
        "metric.age": years_between(customer.birth_date, TODAY),
        "metric.tenure": years_between(customer.onboarded_on, TODAY),
        "metric.days_since_interaction": ((TODAY - last_interaction.date()).days
                                          if last_interaction else None),
        # Never transacted: idle since the first account opened (here: onboarding day).
        "metric.days_since_transaction": (TODAY - (last_tx.date() if last_tx
                                                   else customer.onboarded_on)).days,
        "metric.annual_volume": sum((t.amount for t in txs if t.occurred_at >= since(365)),
                                    Decimal(0)),
    }
    if values.get("churn", "none") != "none":
        out["metric.churn_probability"] = values["churn"]
    for name in CUSTOMER_COLUMNS:
        out[f"customer.{name}"] = getattr(customer, name)
    out["customer.branch_id"] = str(customer.branch_id)
    for key, value in (customer.custom_fields or {}).items():
        out[f"custom.{key}"] = value
    return out


CUSTOMER_COLUMNS = ("customer_type", "gender", "status", "risk_tolerance", "tier", "occupation",
                    "birth_date", "onboarded_on", "risk_assessed_on", "consent_sms",
                    "consent_email", "consent_phone", "consent_wechat", "flag_elderly",
                    "flag_vip")


@pytest.fixture(scope="session")
def seeded_population(app, world):
    from backoffice.extensions import db

    with app.app_context():
        result = seed_population(db.session, world)
        db.session.remove()
    return result


@pytest.fixture
def population(app, seeded_population):
    """The seeded customers, their plain columns read again and their churn scores put back:
    the population lives for the whole session, and a tier refresh, a scoring run or a test
    clearing the score table may have run since; the other metrics stay as seeded."""
    from backoffice.extensions import db
    from models import Customer
    from models.churn import RISK_BANDS, VALUE_BANDS, WARNING_TIERS, ChurnScore

    ids = seeded_population.ids
    with app.app_context():
        rows = db.session.execute(
            select(Customer.id, *(getattr(Customer, name) for name in CUSTOMER_COLUMNS))
            .where(Customer.id.in_(ids)).execution_options(crm_unscoped=True)).all()
        db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id.in_(ids))
                           .execution_options(synchronize_session=False))
        for pk in ids:
            probability = seeded_population.values[pk].get("metric.churn_probability")
            if probability is not None:
                db.session.add(ChurnScore(customer_id=pk, probability=probability,
                                          risk_band=RISK_BANDS[0], value_band=VALUE_BANDS[0],
                                          warning_tier=WARNING_TIERS[0], reasons=[],
                                          signals=[]))
        db.session.commit()
        db.session.remove()
    for row in rows:
        values = seeded_population.values[row[0]]
        for name, value in zip(CUSTOMER_COLUMNS, row[1:]):
            values[f"customer.{name}"] = value
    return seeded_population
