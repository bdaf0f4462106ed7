"""Fixtures of the review tests: customers and staff of their own, so the shared bank stays as
the other tests expect it (approvals here change names, mobiles and owners)."""
from __future__ import annotations

import datetime as dt
import itertools
import secrets

import pytest

from tests.support.web import PASSWORD
from tests.support.world import make_prc_id

_serial = itertools.count(500)


@pytest.fixture(autouse=True)
def leave_the_bank_as_it_was(app, world):
    """Remove the customers and change requests a test made (including customers created by
    approvals), so that later tests see the shared bank's books as seeded."""
    from sqlalchemy import text

    from backoffice.extensions import db

    def highest(connection, table):
        return connection.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar()

    with app.app_context(), db.engine.connect() as connection:
        customers, requests = highest(connection, "customer"), highest(connection, "change_request")
    yield
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM change_request WHERE id > :r OR customer_id > :c"),
                           {"r": requests, "c": customers})
        connection.execute(text("DELETE FROM customer WHERE id > :c"), {"c": customers})


@pytest.fixture
def make_customer(app, world):
    """``make_customer(owner="rm1", teller=None, branch="B1")``: a new customer's id."""
    from backoffice.extensions import db
    from models import Customer

    def _make(owner="rm1", teller=None, branch="B1", **extra) -> int:
        serial = next(_serial)
        birth = dt.date(1980, 1 + serial % 12, 1 + serial % 28)
        with app.app_context():
            customer = Customer(
                customer_no=f"R{secrets.token_hex(4).upper()}", name=f"审核测试{serial}",
                customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, serial, male=False), mobile=f"1380099{serial:04d}",
                branch_id=world.branches[branch], owner_id=world.staff[owner],
                teller_id=world.staff[teller] if teller else None, risk_tolerance="C3",
                status="active", **{"custom_fields": {}, **extra})
            db.session.add(customer)
            db.session.commit()
            customer_id = customer.id
            db.session.remove()
        return customer_id

    return _make


@pytest.fixture
def make_staff(app, world):
    """``make_staff("RelationshipManager", "B1")``: a new member of staff; returns (name, id)."""
    from backoffice.extensions import db

    def _make(*roles, branch="B1"):
        username = f"rv_{secrets.token_hex(4)}"
        with app.app_context():
            sm = app.appbuilder.sm
            user = sm.add_user(username=username, first_name="审核", last_name="测试",
                               email=f"{username}@example.com", role=sm.find_role(roles[0]),
                               password=PASSWORD)
            assert user, username
            for extra in roles[1:]:
                user.roles.append(sm.find_role(extra))
            user.branch_id = world.branches.get(branch)
            if hasattr(user, "confidentiality_accepted_at"):
                user.confidentiality_accepted_at = dt.datetime(2026, 1, 5, 1, 0)
            db.session.commit()
            user_id = user.id
            db.session.remove()
        return username, user_id

    return _make


@pytest.fixture
def staff(app, world):
    """``staff("bm1")``: the Staff object, in the current app context's session."""
    from backoffice.extensions import db
    from models import Staff

    def _get(username):
        user_id = world.staff.get(username)
        if user_id is None:
            return db.session.query(Staff).filter_by(username=username).one()
        return db.session.get(Staff, user_id)

    return _get


@pytest.fixture
def ctx(app):
    """An app context with a clean session, removed afterwards."""
    from backoffice.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()
