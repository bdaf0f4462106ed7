"""A small, fixed bank for the tests: two branches, staff of every role, customers per owner.

Named so that a test reads like the scope rules: ``rm1`` owns ``c_rm1`` in branch ``B1``;
``teller1`` serves ``c_rm2`` (owned by ``rm2``, also branch B1); ``rm3`` owns ``c_rm3`` in B2.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from tests.support.web import PASSWORD

from models import (Account, Branch, Customer, FollowUp, Interaction, Product, Staff,
                    Transaction)
from models.validators import prc_id_check_digit

# username -> (role, branch code or None)
STAFF = {
    "admin": ("Admin", None),
    "senior": ("SeniorManager", None),
    "bm1": ("BranchManager", "B1"),
    "bm2": ("BranchManager", "B2"),
    "rm1": ("RelationshipManager", "B1"),
    "rm2": ("RelationshipManager", "B1"),
    "rm3": ("RelationshipManager", "B2"),
    "teller1": ("Teller", "B1"),
    "operator": ("Operator", None),
    "auditor": ("Auditor", None),
}
ACCEPTED_AT = dt.datetime(2026, 1, 5, 1, 0)  # when seeded staff accepted the agreement (UTC)
# customer key -> (owner, teller, branch)
CUSTOMERS = {
    "c_rm1": ("rm1", None, "B1"),
    "c_rm2": ("rm2", "teller1", "B1"),
    "c_rm3": ("rm3", None, "B2"),
}
# Tiers of the customers: one top tier per branch and one ordinary, so the deep-profile rule
# (top tiers: senior managers and the owning RM only) is exercised both ways.
TIERS = {"c_rm1": "private_banking", "c_rm2": "mass", "c_rm3": "wealth"}
# Whose deep profile (balances, total assets, income, notes) each user may see.
DEEP_VISIBLE = {
    "senior": {"c_rm1", "c_rm2", "c_rm3"},
    "bm1": {"c_rm2"},
    "rm1": {"c_rm1"},
    "rm2": {"c_rm2"},
    "rm3": {"c_rm3"},
}


def balance_of(key: str) -> Decimal:
    """A distinctive balance per customer, so a test can tell where it leaks."""
    serial = list(CUSTOMERS).index(key) + 1
    return Decimal("1234567.89") * serial


def deep_profile_values(key: str) -> dict:
    serial = list(CUSTOMERS).index(key) + 1
    return {"annual_income": Decimal("987654.32") * serial, "family_notes": f"家庭备注{key}",
            "investment_notes": f"投资备注{key}"}


def deep_markers(key: str) -> list[str]:
    """Strings that appear only where this customer's deep profile is shown."""
    balance = balance_of(key)
    return [f"{balance:,.2f}", f"{balance:.2f}", f"家庭备注{key}", f"投资备注{key}"]


# Which customers each user may see.
VISIBLE = {
    "admin": set(),
    "senior": {"c_rm1", "c_rm2", "c_rm3"},
    "bm1": {"c_rm1", "c_rm2"},
    "bm2": {"c_rm3"},
    "rm1": {"c_rm1"},
    "rm2": {"c_rm2"},
    "rm3": {"c_rm3"},
    "teller1": {"c_rm2"},
    "operator": set(),
    "auditor": set(),
}


def make_prc_id(birth: dt.date, serial: int, male: bool = True) -> str:
    """A valid 18-digit ID number (Beijing Dongcheng area code) for the given birth date."""
    seq = serial * 2 + (1 if male else 0)
    first17 = f"110101{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + prc_id_check_digit(first17)


@dataclass
class World:
    """Ids of everything seeded, by the names above."""

    staff: dict = field(default_factory=dict)
    branches: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)
    accounts: dict = field(default_factory=dict)
    transactions: dict = field(default_factory=dict)
    interactions: dict = field(default_factory=dict)
    follow_ups: dict = field(default_factory=dict)
    product_id: int = 0
    # Further scoped entities' ids: entity name -> {customer key: id} (issue 8 and later).
    extra: dict = field(default_factory=dict)

    def records_of(self, customer_key: str) -> dict:
        """Every scoped record id belonging to one customer, by entity name."""
        return {
            "Customer": self.customers[customer_key],
            "Account": self.accounts[customer_key],
            "Transaction": self.transactions[customer_key],
            "Interaction": self.interactions[customer_key],
            "FollowUp": self.follow_ups[customer_key],
            **{entity: ids[customer_key] for entity, ids in self.extra.items()},
        }


def seed_world(session, appbuilder) -> World:
    """Insert the fixed bank through the ORM and return the ids."""
    world = World()
    sm = appbuilder.sm
    for code, name in (("B1", "Test Branch One"), ("B2", "Test Branch Two")):
        branch = Branch(code=code, name=name, city="北京")
        session.add(branch)
        session.flush()
        world.branches[code] = branch.id
    for username, (role, branch_code) in STAFF.items():
        user = sm.find_user(username=username)
        if user is None:
            user = sm.add_user(username=username, first_name=username, last_name="测试",
                               email=f"{username}@example.com", role=sm.find_role(role),
                               password=PASSWORD)
        user.branch_id = world.branches.get(branch_code)
        # Seeded staff accepted the confidentiality agreement already, so tests reach screens at
        # once; real users (crm init, demo) accept it at first login.
        user.confidentiality_accepted_at = user.confidentiality_accepted_at or ACCEPTED_AT
        world.staff[username] = user.id
    product = Product(code="DEP-T", name="活期存款", category="deposit", risk_level="R1")
    session.add(product)
    session.flush()
    world.product_id = product.id
    now = dt.datetime(2026, 11, 1, 8, 0)
    for serial, (key, (owner, teller, branch_code)) in enumerate(CUSTOMERS.items(), start=1):
        birth = dt.date(1970 + serial, serial, 10 + serial)
        customer = Customer(
            customer_no=f"T{serial:09d}", name=f"客户{key}", customer_type="individual",
            gender="M", birth_date=birth, id_type="PRC_ID",
            id_number=make_prc_id(birth, serial), mobile=f"1380013{serial:04d}",
            email=f"{key}@example.com", branch_id=world.branches[branch_code],
            owner_id=world.staff[owner], teller_id=world.staff.get(teller),
            risk_tolerance="C3", status="active", custom_fields={},
            onboarded_on=dt.date(2020, 1, 1), tier=TIERS[key],
            address=f"北京市东城区测试路{serial}号{key}",
        )
        for name, value in deep_profile_values(key).items():
            setattr(customer, name, value)
        session.add(customer)
        session.flush()
        account = Account(account_no=f"6222000000000{serial:06d}", customer_id=customer.id,
                          product_id=product.id, balance=balance_of(key),
                          opened_on=dt.date(2020, 1, 2), status="open")
        session.add(account)
        session.flush()
        txn = Transaction(account_id=account.id, customer_id=customer.id, occurred_at=now,
                          amount=Decimal("88.80"), direction="in", channel="mobile",
                          type="salary")
        interaction = Interaction(customer_id=customer.id, staff_id=world.staff[owner],
                                  occurred_at=now, channel="phone", direction="outbound",
                                  topic="inquiry", summary=f"测试来电 {key}", custom_fields={})
        task = FollowUp(customer_id=customer.id, assignee_id=world.staff[owner],
                        title=f"回访 {key}", task_type="callback",
                        due_at=now + dt.timedelta(days=2), status="open")
        session.add_all([txn, interaction, task])
        session.flush()
        world.customers[key] = customer.id
        world.accounts[key] = account.id
        world.transactions[key] = txn.id
        world.interactions[key] = interaction.id
        world.follow_ups[key] = task.id
    _seed_service_records(session, world)  # issue 8
    session.commit()
    return world


def _seed_service_records(session, world: World) -> None:
    """One consent, greeting dispatch, complaint, loan application and service flag per
    customer (issue 8), so the scope matrix exercises those screens too."""
    from sqlalchemy import select

    from models import (Complaint, Consent, CustomerServiceFlag, GreetingDispatch,
                        LoanApplication, Occasion, ServiceFlagType)

    occasion_id = session.scalar(select(Occasion.id).where(Occasion.code == "birthday"))
    flag_type = ServiceFlagType(code="hearing_aid", label_zh="听力辅助", label_en="Hearing aid",
                                active=True)
    session.add(flag_type)
    session.flush()
    for serial, key in enumerate(CUSTOMERS, start=1):
        customer_id = world.customers[key]
        records = {
            "Consent": Consent(customer_id=customer_id, channel="sms", purpose="service",
                               granted=True, source="counter"),
            "GreetingDispatch": GreetingDispatch(
                customer_id=customer_id, occasion_id=occasion_id, channel="email",
                occasion_date=dt.date(2025, serial, 10 + serial), status="sent", attempts=1),
            "Complaint": Complaint(customer_id=customer_id, summary=f"测试投诉 {key}",
                                   status="open"),
            "LoanApplication": LoanApplication(customer_id=customer_id,
                                               application_no=f"LN-W-{serial:04d}",
                                               amount=Decimal("100000.00"), status="submitted"),
            "CustomerServiceFlag": CustomerServiceFlag(customer_id=customer_id,
                                                       flag_type_id=flag_type.id,
                                                       note=f"说话请放慢 {key}"),
        }
        session.add_all(records.values())
        session.flush()
        for entity, record in records.items():
            world.extra.setdefault(entity, {})[key] = record.id


def customer_number(world: World, key: str) -> str:
    return f"T{list(CUSTOMERS).index(key) + 1:09d}"


__all__ = ["CUSTOMERS", "STAFF", "VISIBLE", "World", "customer_number", "make_prc_id",
           "seed_world", "Staff"]
