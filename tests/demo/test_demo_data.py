"""The demo bank: valid identifiers, the patterns the issue asks for, determinism and refusals.

These tests run the loader against a bare SQLAlchemy engine (SQLite in ``tmp_path``, foreign keys
enforced, tables from ``create_all``), independent of the Flask app, as the loader must work from
any session.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from flask_appbuilder.security.sqla.models import Role, assoc_user_role
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

import models
from models import crypto
from backoffice.demo import (
    DEFAULT_PASSWORD,
    DemoAlreadyLoaded,
    DemoResult,
    MissingRoles,
    load_demo,
)
from backoffice.demo.timeline import Timeline
from models import Account, Branch, Customer, FollowUp, Interaction, Product, Staff, Transaction
from models.choices import (
    INTERACTION_CHANNELS,
    INTERACTION_TOPICS,
    PRODUCT_CATEGORIES,
    RISK_LEVELS,
    TASK_TYPES,
    TRANSACTION_CHANNELS,
    TRANSACTION_TYPES,
)
from models.validators import (
    check_bank_card,
    check_mobile,
    check_prc_id,
    check_uscc,
    prc_id_birth_date,
    prc_id_gender,
)
from tests.support import services

ROLES = ("Admin", "SeniorManager", "BranchManager", "RelationshipManager", "Teller", "Operator",
         "Auditor")
TODAY = dt.date(2026, 3, 15)
KEYRING = crypto.KeyRing.generate("demo-test")  # the loader encrypts customers and accounts
CUSTOMERS = 600
TABLES = {
    "branch": Branch.__table__, "ab_user": Staff.__table__, "ab_user_role": assoc_user_role,
    "product": Product.__table__, "customer": Customer.__table__, "account": Account.__table__,
    "transaction": Transaction.__table__, "interaction": Interaction.__table__,
    "follow_up": FollowUp.__table__,
}


def make_engine(path, roles=ROLES):
    """A fresh SQLite database with the schema, foreign keys enforced, and the given roles."""
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA foreign_keys=ON"))
    models.Model.metadata.create_all(engine)
    if roles:
        with engine.begin() as conn:
            conn.execute(insert(Role.__table__), [{"name": name} for name in roles])
    return engine


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def load(engine, **kwargs) -> DemoResult:
    with Session(engine) as session:
        return load_demo(session, **{"today": TODAY, "keyring": KEYRING, **kwargs})


def rows(engine, table, *where):
    """Raw rows, with encrypted fields decrypted back to their plain names."""
    with engine.connect() as conn:
        return [crypto.open_row(table.name, r._asdict(), KEYRING)
                for r in conn.execute(select(table).where(*where).order_by(table.c.id))]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    engine = make_engine(tmp_path_factory.mktemp("demo") / "bank.sqlite3")
    result = load(engine, customers=CUSTOMERS, seed=11, tx_per_month=4)
    yield engine, result
    engine.dispose()


def dump(engine) -> dict[str, list[tuple]]:
    """Every demo table's rows in id order, decrypted; the salted password hash, the random row
    identities and the ciphertexts (fresh nonces) are left out."""
    out = {}
    for name, table in TABLES.items():
        out[name] = [tuple(v for k, v in row.items() if k not in ("password", "record_uid"))
                     for row in rows(engine, table)]
    return out


def test_same_seed_gives_identical_rows_and_another_seed_differs(tmp_path):
    """Determinism: demos, screenshots and bug reports must be reproducible from the seed."""
    first = make_engine(tmp_path / "a.sqlite3")
    second = make_engine(tmp_path / "b.sqlite3")
    other = make_engine(tmp_path / "c.sqlite3")
    load(first, customers=150, seed=5)
    load(second, customers=150, seed=5)
    load(other, customers=150, seed=6)
    a, b, c = dump(first), dump(second), dump(other)
    assert all(a[name] for name in TABLES if name != "product")
    assert a == b
    assert a["customer"] != c["customer"]
    assert a["transaction"] != c["transaction"]


def test_result_reports_logins_counts_and_time(bank):
    engine, result = bank
    assert result.seconds > 0
    for name, table in TABLES.items():
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(table)).scalar() \
                == result.counts[name], name
    assert result.counts["customer"] == CUSTOMERS
    usernames = {login[0] for login in result.logins}
    assert {"senior", "senior2", "operator", "auditor", "bm01", "rm01_01", "rm01_02",
            "teller01_01", "teller01_02"} <= usernames
    assert all(password == DEFAULT_PASSWORD for _u, password, _r, _b in result.logins)


def test_staff_of_every_role_with_a_branch_and_a_working_password(bank):
    engine, result = bank
    staff = {row["id"]: row for row in rows(engine, Staff.__table__)}
    role_names = {r["id"]: r["name"] for r in rows(engine, Role.__table__)}
    roles_of = defaultdict(set)
    for link in rows(engine, assoc_user_role):
        roles_of[link["user_id"]].add(role_names[link["role_id"]])
    held = Counter(name for names in roles_of.values() for name in names)
    assert set(held) == set(ROLES) - {"Admin"}
    # Two senior managers: a campaign one writes needs the other's approval (maker-checker).
    assert held["SeniorManager"] == 2 and held["Operator"] == held["Auditor"] == 1
    branches = rows(engine, Branch.__table__)
    assert held["BranchManager"] == len(branches) and held["Teller"] == 2 * len(branches)
    assert all(row["branch_id"] is not None and row["active"] for row in staff.values())
    assert all(len(roles_of[sid]) == 1 for sid in staff)
    any_user = next(iter(staff.values()))
    assert check_password_hash(any_user["password"], DEFAULT_PASSWORD)
    # Relationship managers: at least two per branch, about one per 150 customers.
    rms_per_branch = Counter(staff[s]["branch_id"] for s, names in roles_of.items()
                             if "RelationshipManager" in names)
    assert all(rms_per_branch[b["id"]] >= 2 for b in branches)
    # Owners are relationship managers of the customer's branch; tellers serve the same branch.
    for customer in rows(engine, Customer.__table__):
        owner = staff[customer["owner_id"]]
        assert "RelationshipManager" in roles_of[owner["id"]]
        assert owner["branch_id"] == customer["branch_id"]
        if customer["teller_id"]:
            assert "Teller" in roles_of[customer["teller_id"]]
            assert staff[customer["teller_id"]]["branch_id"] == customer["branch_id"]


def test_id_numbers_are_valid_and_agree_with_birth_date_and_gender(bank):
    engine, _ = bank
    customers = rows(engine, Customer.__table__)
    individuals = [c for c in customers if c["customer_type"] == "individual"]
    corporates = [c for c in customers if c["customer_type"] == "corporate"]
    assert individuals and corporates
    for c in individuals:
        assert c["id_type"] == "PRC_ID" and len(c["id_number"]) == 18
        assert check_prc_id(c["id_number"], c["birth_date"], today=TODAY) is None, c["id_number"]
        assert prc_id_birth_date(c["id_number"]) == c["birth_date"]
        assert prc_id_gender(c["id_number"]) == c["gender"]
        age = age_on(c["birth_date"], TODAY)
        assert 18 <= age <= 90
        assert c["flag_elderly"] == (age >= 65)
        assert age_on(c["birth_date"], c["onboarded_on"]) >= 18
    for c in corporates:
        assert c["id_type"] == "USCC" and check_uscc(c["id_number"]) is None
        assert c["gender"] is None
    assert len({c["id_number"] for c in customers}) == len(customers)
    assert any(c["flag_elderly"] for c in individuals)


def test_customer_fields_look_like_a_real_bank(bank):
    engine, _ = bank
    customers = rows(engine, Customer.__table__)
    assert all(check_mobile(c["mobile"]) is None for c in customers)
    assert len({c["mobile"] for c in customers}) == len(customers)
    assert all(re.fullmatch(r"C\d{9}", c["customer_no"]) for c in customers)
    assert all(c["custom_fields"] == {} and c["version"] == 1 for c in customers)
    assert {c["risk_tolerance"] for c in customers} == {"C1", "C2", "C3", "C4", "C5"}
    assert all(c["risk_assessed_on"] <= TODAY for c in customers)
    ten_years_ago = TODAY - dt.timedelta(days=3660)
    assert all(ten_years_ago <= c["onboarded_on"] <= TODAY for c in customers)
    assert all(c["created_at"] <= c["updated_at"] and c["created_at"].tzinfo is None
               for c in customers)
    statuses = Counter(c["status"] for c in customers)
    assert statuses["active"] > 0.75 * len(customers)
    assert statuses["dormant"] > 0 and statuses["closed"] > 0
    for c in customers:
        assert (c["closed_on"] is not None) == (c["status"] == "closed")
        if c["closed_on"]:
            assert TODAY - dt.timedelta(days=92) <= c["closed_on"] < TODAY


def test_birthdays_fall_in_every_month(tmp_path):
    """Birthday greetings need birthdays all year round (N=1000 as in the issue)."""
    engine = make_engine(tmp_path / "birthdays.sqlite3")
    load(engine, customers=1000, seed=3, tx_per_month=0)
    with engine.connect() as conn:
        births = conn.execute(select(Customer.birth_date).where(Customer.birth_date.is_not(None)))
        months = Counter(row[0].month for row in births)
    assert set(months) == set(range(1, 13))
    assert min(months.values()) > 40


def test_catalogue_covers_every_category_and_risk_level(bank):
    engine, _ = bank
    products = rows(engine, Product.__table__)
    assert {p["category"] for p in products} == set(PRODUCT_CATEGORIES)
    assert {p["risk_level"] for p in products} == set(RISK_LEVELS)
    assert all(re.search(r"[\u4e00-\u9fff]", p["name"]) for p in products)
    with engine.connect() as conn:
        held = set(conn.execute(
            select(Product.category).join(Account, Account.product_id == Product.id)).scalars())
    assert held == set(PRODUCT_CATEGORIES)


def test_accounts_have_valid_numbers_and_non_negative_balances(bank):
    engine, _ = bank
    accounts = rows(engine, Account.__table__)
    assert all(len(a["account_no"]) == 19 and check_bank_card(a["account_no"]) is None
               for a in accounts)
    assert all(a["balance"] >= 0 for a in accounts)
    assert all(a["balance"] == a["balance"].quantize(Decimal("0.01")) for a in accounts)
    customers = {c["id"]: c for c in rows(engine, Customer.__table__)}
    products = {p["id"]: p for p in rows(engine, Product.__table__)}
    demand = Counter(a["customer_id"] for a in accounts
                     if products[a["product_id"]]["category"] == "deposit")
    assert all(demand[cid] == 1 for cid in customers)
    for a in accounts:
        owner = customers[a["customer_id"]]
        assert a["opened_on"] >= owner["onboarded_on"]
        if owner["status"] == "closed":
            assert a["status"] == "closed" and a["balance"] == 0
            assert a["closed_on"] <= owner["closed_on"]
        if a["status"] == "closed":
            assert a["closed_on"] is not None and a["balance"] == 0


def test_wealth_is_skewed(bank):
    """A few private-banking customers, some wealth-management ones, most with modest savings."""
    engine, _ = bank
    with engine.connect() as conn:
        totals = dict(conn.execute(
            select(Account.customer_id, func.sum(Account.balance))
            .join(Product, Product.id == Account.product_id)
            .where(Product.category.not_in(("loan", "credit_card")))
            .group_by(Account.customer_id)).all())
    values = [Decimal(str(v)) for v in totals.values()]
    assert 1 <= sum(v >= 6_000_000 for v in values) <= 0.02 * CUSTOMERS
    assert sum(v >= 500_000 for v in values) >= 0.02 * CUSTOMERS
    assert 0.2 * CUSTOMERS <= sum(v >= 50_000 for v in values) <= 0.8 * CUSTOMERS


def test_transactions_are_well_formed_and_cover_the_year(bank):
    engine, _ = bank
    txs = rows(engine, Transaction.__table__)
    timeline = Timeline(TODAY)
    start = dt.datetime.combine(timeline.start, dt.time()) - dt.timedelta(hours=8)
    end = dt.datetime.combine(TODAY, dt.time()) + dt.timedelta(hours=16)
    assert all(t["amount"] > 0 and start <= t["occurred_at"] < end for t in txs)
    assert {t["direction"] for t in txs} == {"in", "out"}
    assert {t["channel"] for t in txs} == set(TRANSACTION_CHANNELS)
    assert {t["type"] for t in txs} == set(TRANSACTION_TYPES)
    per_month = len(txs) / CUSTOMERS / 12
    assert 2.5 <= per_month <= 5.5
    accounts = {a["id"]: a for a in rows(engine, Account.__table__)}
    assert all(accounts[t["account_id"]]["customer_id"] == t["customer_id"] for t in txs)
    # Salary arrives on the same day of the month, every month the customer is employed here.
    salary_days = defaultdict(set)
    for t in txs:
        if t["type"] == "salary":
            salary_days[t["customer_id"]].add((t["occurred_at"] + dt.timedelta(hours=8)).day)
    assert salary_days and all(len(days) == 1 for days in salary_days.values())


def test_leavers_activity_drops_before_they_leave(bank):
    """Leavers: per-month transactions in the last 3 months at least 50% below earlier months."""
    engine, _ = bank
    leavers = {c["id"] for c in rows(engine, Customer.__table__, Customer.status == "closed")}
    assert len(leavers) >= 0.04 * CUSTOMERS
    cut = dt.datetime.combine(TODAY - dt.timedelta(days=91), dt.time())
    recent, earlier = Counter(), Counter()
    for t in rows(engine, Transaction.__table__, Transaction.customer_id.in_(leavers)):
        (recent if t["occurred_at"] >= cut else earlier)[t["customer_id"]] += 1
    assert sum(recent.values()) / 3 <= 0.5 * sum(earlier.values()) / 9
    dropped = sum(recent[c] / 3 <= 0.5 * earlier[c] / 9 for c in leavers)
    assert dropped >= 0.75 * len(leavers)
    # Their money left too: every account ends empty, after outflows to another bank.
    with engine.connect() as conn:
        drained = set(conn.execute(select(Transaction.customer_id).where(
            Transaction.customer_id.in_(leavers), Transaction.description == "销户转出")).scalars())
    assert len(drained) >= 0.9 * len(leavers)


def test_interactions_and_follow_ups(bank):
    engine, _ = bank
    interactions = rows(engine, Interaction.__table__)
    customers = {c["id"]: c for c in rows(engine, Customer.__table__)}
    assert {i["channel"] for i in interactions} <= set(INTERACTION_CHANNELS)
    assert {i["topic"] for i in interactions} <= set(INTERACTION_TOPICS)
    assert {i["direction"] for i in interactions} == {"inbound", "outbound"}
    complaints = [i for i in interactions if i["complaint"]]
    assert 0.01 <= len(complaints) / len(interactions) <= 0.08
    assert all(i["satisfaction"] is None or i["satisfaction"] <= 3 for i in complaints)
    assert all(i["staff_id"] == customers[i["customer_id"]]["owner_id"] for i in interactions)
    assert all(re.search(r"[\u4e00-\u9fff]", i["summary"]) for i in interactions)
    leaver_scores = [i["satisfaction"] for i in interactions
                     if customers[i["customer_id"]]["status"] == "closed" and i["satisfaction"]]
    other_scores = [i["satisfaction"] for i in interactions
                    if customers[i["customer_id"]]["status"] != "closed" and i["satisfaction"]]
    assert sum(leaver_scores) / len(leaver_scores) < sum(other_scores) / len(other_scores) - 1

    tasks = rows(engine, FollowUp.__table__)
    now = Timeline(TODAY).now
    assert {t["task_type"] for t in tasks} <= set(TASK_TYPES)
    assert {t["status"] for t in tasks} == {"open", "done"}
    open_tasks = [t for t in tasks if t["status"] == "open"]
    assert any(t["due_at"] < now for t in open_tasks)
    assert any(now <= t["due_at"] <= now + dt.timedelta(days=14) for t in open_tasks)
    assert all(t["assignee_id"] == customers[t["customer_id"]]["owner_id"] for t in tasks)
    assert all(customers[t["customer_id"]]["status"] != "closed" for t in open_tasks)
    assert all(t["completed_at"] is not None for t in tasks if t["status"] == "done")


def test_refuses_without_roles_and_writes_nothing(tmp_path):
    engine = make_engine(tmp_path / "noroles.sqlite3", roles=("Admin", "Teller"))
    with pytest.raises(MissingRoles, match="flask crm init"):
        load(engine, customers=10, seed=1)
    assert rows(engine, Branch.__table__) == [] and rows(engine, Staff.__table__) == []


def test_refuses_a_second_load(bank):
    engine, _ = bank
    with pytest.raises(DemoAlreadyLoaded):
        load(engine, customers=10, seed=1)


def test_refuses_when_demo_logins_are_taken(tmp_path):
    """A half-finished earlier load (staff, no customers) is caught before anything is written."""
    engine = make_engine(tmp_path / "clash.sqlite3")
    with engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [{
            "first_name": "A", "last_name": "B", "username": "senior", "password": "x",
            "active": True, "email": "someone@example.com"}])
    with pytest.raises(DemoAlreadyLoaded, match="senior"):
        load(engine, customers=10, seed=1)
    assert rows(engine, Branch.__table__) == []


@pytest.mark.parametrize("kwargs", [{"customers": 0}, {"tx_per_month": -1},
                                    {"password": "short"}])
def test_rejects_bad_arguments(tmp_path, kwargs):
    engine = make_engine(tmp_path / "bad.sqlite3")
    with pytest.raises(ValueError):
        load(engine, **{"customers": 10, "seed": 1, **kwargs})


def test_postgresql_sequences_continue_after_the_demo_ids():
    """Explicit ids bypass sequences; afterwards a normal insert must not collide."""
    url = services.require_postgresql()
    schema = "demo_sequences_test"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        models.Model.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(Role.__table__), [{"name": name} for name in ROLES])
        result = load(engine, customers=40, seed=2)
        with Session(engine) as session:
            session.add(Branch(code="NEW", name="新支行"))
            session.add(Staff(first_name="新", last_name="员工", username="newbie", password="x",
                              active=True, email="newbie@example.com"))
            session.commit()
            branch_id = session.execute(select(Branch.id).where(Branch.code == "NEW")).scalar()
            staff_id = session.execute(select(Staff.id).where(Staff.username == "newbie")).scalar()
        assert branch_id == result.counts["branch"] + 1
        assert staff_id == result.counts["ab_user"] + 1
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
