"""Fixtures of the notification tests: staff of their own (so counts are a test's own), a
notification helper, and a real local SMTP server."""
from __future__ import annotations

import uuid

import pytest

from tests.greetings.servers import SmtpServer
from tests.support.web import PASSWORD, login
from tests.support.world import ACCEPTED_AT


@pytest.fixture
def make_staff(app, world):
    """``make_staff("BranchManager", "B1")``: a new active member of staff of that role, in
    that branch (of the test world), with an e-mail address; returns ``(id, username)``."""
    from backoffice.extensions import db

    def _make(role: str, branch: str | None = None, email: bool = True):
        with app.app_context():
            sm = app.appbuilder.sm
            name = f"nt{role[:6].lower()}{uuid.uuid4().hex[:8]}"
            user = sm.add_user(username=name, first_name=name, last_name="测试",
                               email=f"{name}@example.com", role=sm.find_role(role),
                               password=PASSWORD)
            assert user, f"could not add {name}"
            user.branch_id = world.branches.get(branch) if branch else None
            user.confidentiality_accepted_at = ACCEPTED_AT
            if not email:
                user.email = None
            db.session.commit()
            result = (user.id, name)
            db.session.remove()
        return result

    return _make


@pytest.fixture
def logged_in(app):
    """``logged_in(username, lang="en")``: a test client signed in, in that language."""

    def _make(username: str, lang: str | None = None):
        client = app.test_client()
        assert login(client, username).status_code == 302
        if lang:
            client.get(f"/lang/{lang}")
        return client

    return _make


@pytest.fixture
def raise_notice(app):
    """``raise_notice(staff_ids, kind, message, **options)``: notify and commit; the ids."""
    from backoffice.extensions import db
    from backoffice.notifications import notify

    def _raise(staff_ids, kind, message, **options):
        with app.app_context():
            rows = notify(db.session, staff_ids, kind, message, **options)
            db.session.commit()
            ids = [row.id for row in rows]
            db.session.remove()
        return ids

    return _raise


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def new_customer(app, world):
    """``new_customer(owner_id, "B1")``: a customer of the test's own (removed afterwards with
    its tasks and change requests)."""
    import datetime as dt

    from sqlalchemy import delete

    from backoffice.extensions import db
    from models import ChangeRequest, Customer, FollowUp
    from tests.support.world import make_prc_id

    made = []

    def _make(owner_id: int, branch: str = "B1") -> int:
        serial = uuid.uuid4().int % 900 + 100
        birth = dt.date(1985, 1 + serial % 12, 1 + serial % 28)
        with app.app_context():
            customer = Customer(
                customer_no=f"NT{uuid.uuid4().hex[:8].upper()}", name=f"通知客户{serial}",
                customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, serial, male=False),
                branch_id=world.branches[branch], owner_id=owner_id, risk_tolerance="C3",
                status="active", custom_fields={}, onboarded_on=dt.date(2021, 1, 1))
            db.session.add(customer)
            db.session.commit()
            made.append(customer.id)
            db.session.remove()
        return made[-1]

    yield _make
    with app.app_context():
        for model in (FollowUp, ChangeRequest):
            db.session.execute(delete(model).where(model.customer_id.in_(made)),
                               execution_options={"crm_unscoped": True})
        db.session.execute(delete(Customer).where(Customer.id.in_(made)),
                           execution_options={"crm_unscoped": True})
        db.session.commit()
        db.session.remove()
