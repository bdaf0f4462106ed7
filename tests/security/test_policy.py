"""The field-access policy decides by permissions roles hold, never by role names or scope kinds.

Guards against a role an admin adds with bank-wide scope silently seeing private-banking income
and balances (the deep profile used to be granted to any "all" scope), and checks the policy's
answers for the seeded roles against the rules the README states.
"""
from __future__ import annotations

import contextlib

import pytest

from backoffice.security import policy
from backoffice.security.policy import Read, Write
from tests.support.web import PASSWORD, api_token, login
from tests.support.world import ACCEPTED_AT, TIERS, deep_profile_values

NEW_ROLE = "RegionalDirector"


@contextlib.contextmanager
def regional_director(app, monkeypatch, extra_permissions=()):
    """A role defined only as data (bank-wide scope, reads customers), and a user holding it;
    both removed afterwards so that other tests never meet them."""
    from backoffice.extensions import db
    from backoffice.security.seeding import sync_roles
    from config import roles as r

    spec = {"label": "Regional director", "scope": "all",
            "permissions": r.OWN_ACCOUNT + r._customer_service(write_customers=False)
            + list(extra_permissions)}
    monkeypatch.setitem(r.ROLES, NEW_ROLE, spec)
    username = f"regional{len(extra_permissions)}"
    with app.app_context():
        sm = app.appbuilder.sm
        sync_roles(app.appbuilder, {NEW_ROLE: spec})
        user = sm.add_user(username=username, first_name="区域", last_name="总监",
                           email=f"{username}@bank.test", role=sm.find_role(NEW_ROLE),
                           password=PASSWORD)
        user.confidentiality_accepted_at = ACCEPTED_AT  # straight to the screens
        db.session.commit()
        user_id = user.id
    try:
        yield username
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            user = db.session.get(sm.user_model, user_id)
            role = sm.find_role(NEW_ROLE)
            db.session.delete(user)
            role.permissions = []
            db.session.delete(role)
            db.session.commit()


def _income_text(key: str) -> str:
    return f"{deep_profile_values(key)['annual_income']:,.2f}"


def test_a_new_bank_wide_role_sees_no_deep_profile_unless_granted(app, world, monkeypatch):
    """Scope "all" lets the role open every customer; the deep profile needs its own grants."""
    top = next(key for key, tier in TIERS.items() if tier == "private_banking")
    pk = world.customers[top]
    with regional_director(app, monkeypatch) as username:
        client = app.test_client()
        assert login(client, username).status_code == 302
        page = client.get(f"/customers/show/{pk}")
        assert page.status_code == 200  # in scope: the record itself is readable
        html = page.get_data(as_text=True)
        assert deep_profile_values(top)["family_notes"] not in html
        assert _income_text(top) not in html
        token = api_token(app.test_client(), username)
        body = app.test_client().get(f"/api/v1/customer/{pk}",
                                     headers={"Authorization": f"Bearer {token}"})
        assert body.status_code == 200
        assert deep_profile_values(top)["family_notes"] not in body.get_data(as_text=True)

    granted = [("can_deep_profile", "Customer"), ("can_deep_profile_top", "Customer")]
    with regional_director(app, monkeypatch, granted) as username:
        client = app.test_client()
        assert login(client, username).status_code == 302
        html = client.get(f"/customers/show/{pk}").get_data(as_text=True)
        assert deep_profile_values(top)["family_notes"] in html


@pytest.mark.parametrize("username, key, expected", [
    ("senior", "c_rm1", Read.VISIBLE),   # top tier, all customers
    ("rm1", "c_rm1", Read.VISIBLE),      # owner, whatever the tier
    ("bm1", "c_rm1", Read.HIDDEN),       # top tier of the branch: not the branch manager
    ("bm1", "c_rm2", Read.VISIBLE),      # ordinary customer of the branch
    ("teller1", "c_rm2", Read.HIDDEN),   # tellers never
    ("bm2", "c_rm1", Read.HIDDEN),       # out of scope
])
def test_deep_profile_follows_the_grants(app, world, username, key, expected):
    from backoffice.extensions import db
    from models import Customer

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        customer = db.session.get(Customer, world.customers[key])
        viewer = policy.viewer_for(user)
        assert policy.decide("Customer", "annual_income", customer, viewer).read is expected
        assert policy.decide("Account", "customer.annual_income", customer.accounts[0],
                             viewer).read is expected
        db.session.remove()


@pytest.mark.parametrize("username, key, field, verdict", [
    ("rm2", "c_rm2", "mobile", "reviewed"),   # a maker's change to a reviewed field waits
    ("rm2", "c_rm2", "occupation", "editable"),
    ("rm1", "c_rm2", "occupation", "hidden"),  # another RM's customer: nothing at all
    ("bm1", "c_rm2", "mobile", "editable"),   # checkers write directly
    ("teller1", "c_rm2", "annual_income", "hidden"),
    ("auditor", "c_rm2", "mobile", "hidden"),  # no customer data at all
    ("admin", "c_rm2", "name", "hidden"),      # configuration, not customer data
    ("senior", "c_rm2", "customer_no", "visible"),  # read-only: nobody writes it
])
def test_verdicts(app, world, username, key, field, verdict):
    from backoffice.extensions import db
    from models import Customer

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        customer = db.session.get(Customer, world.customers[key])
        decision = policy.decide("Customer", field, customer, policy.viewer_for(user))
        assert decision.verdict == verdict, decision
        db.session.remove()


def test_operators_may_import_fields_they_cannot_read(app, world):
    """An operator's file writes customers the operator never reads back."""
    from backoffice.extensions import db
    from models import Customer

    with app.app_context():
        operator = policy.viewer_for(app.appbuilder.sm.find_user(username="operator"))
        customer = db.session.get(Customer, world.customers["c_rm2"])
        # Not even the name of a customer the operator's file matched.
        assert policy.decide("Customer", "name", customer, operator).read is Read.HIDDEN
        assert policy.decide("Customer", "mobile", customer, operator).read is Read.HIDDEN
        assert policy.shown("Customer", "mobile", customer, customer.mobile,
                            operator) == policy.HIDDEN_TEXT
        assert policy.decide("Customer", "mobile", None, operator).write is Write.REVIEWED
        assert policy.decide("Customer", "customer_no", None, operator).write is Write.NONE
        db.session.remove()


def test_outside_a_request_the_system_sees_everything(app, world):
    from backoffice.extensions import db
    from models import Customer

    with app.app_context():
        customer = db.session.get(Customer, world.customers["c_rm1"])
        assert policy.current_viewer().is_system
        assert policy.shown("Customer", "mobile", customer, customer.mobile) == customer.mobile
        db.session.remove()
