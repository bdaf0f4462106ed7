"""A notification about a customer shows its content only to a reader whose record scope
reaches that customer, decided when it is shown: on the page, through the link and in the
digest e-mail. Everyone else reads a neutral sentence.

A marker is planted in the text of a notification about a customer of branch B2 and sent to
members of every role in branch B1 and B2; who may read it is decided by the record scope
(``backoffice.security.scopes``), never by a role name.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.notifications import digest
from backoffice.security.scopes import as_scope, scope_for_user
from models import Customer, Staff
from models.notifications import NotificationPreference
from tests.support.world import STAFF

ROLES = sorted({role for role, _branch in STAFF.values()})
NEUTRAL_EN = "A notification about a record you cannot see."


def _may_see(app, staff_id: int, customer_id: int) -> bool:
    """The answer of the record scope, asked the way every query asks it."""
    with app.app_context():
        staff = db.session.get(Staff, staff_id)
        with as_scope(scope_for_user(staff)):
            found = db.session.scalar(select(Customer.id).where(Customer.id == customer_id))
        db.session.remove()
    return found is not None


@pytest.fixture
def planted(app, world, make_staff, raise_notice):
    """One notification with a marker about B2's customer, to a member of each role in each
    branch; ``[(staff_id, username, may_see, notification_id)]`` and the marker."""
    marker = f"MARK{uuid.uuid4().hex[:10]}"
    customer_id = world.customers["c_rm3"]
    readers = []
    for role in ROLES:
        for branch in ("B1", "B2"):
            staff_id, username = make_staff(role, branch)
            [notice] = raise_notice([staff_id], "mention",
                                    _l("You were mentioned: %(text)s", text=marker),
                                    link=f"/customers/show/{customer_id}", entity="Customer",
                                    entity_id=customer_id, customer_id=customer_id)
            readers.append((staff_id, username, _may_see(app, staff_id, customer_id), notice))
    assert any(seen for *_x, seen, _n in readers) and not all(seen for *_x, seen, _n in readers)
    return readers, marker, customer_id


def test_the_page_and_the_link_show_the_marker_only_in_scope(planted, logged_in):
    readers, marker, customer_id = planted
    for staff_id, username, may_see, notice in readers:
        client = logged_in(username, "en")
        html = client.get("/notifications/").get_data(as_text=True)
        assert (marker in html) is may_see, username
        assert (NEUTRAL_EN in html) is (not may_see), username
        assert (f"/customers/show/{customer_id}" in html) is False  # links go through /open
        opened = client.get(f"/notifications/open/{notice}")
        assert opened.status_code == 302
        target = opened.headers["Location"]
        assert (f"/customers/show/{customer_id}" in target) is may_see, username
        assert marker not in target


def test_the_digest_mail_shows_the_marker_only_in_scope(app, planted, smtp_server):
    readers, marker, _customer_id = planted
    app.config.update({"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp_server.port})
    with app.app_context():
        for staff_id, *_rest in readers:
            db.session.add(NotificationPreference(staff_id=staff_id, digest="daily",
                                                  digest_time=dt.time(0, 0), language="en"))
        db.session.commit()
        digest.run(db.session, app.config)
        db.session.remove()
    mails = {m["to"]: m for m in smtp_server.recorder.snapshot()}
    for _staff_id, username, may_see, _notice in readers:
        mail = mails[f"{username}@example.com"]
        assert (marker in mail["body"]) is may_see, username
        assert (NEUTRAL_EN in mail["body"]) is (not may_see), username
        assert marker not in mail["subject"]


def test_a_customer_moved_out_of_scope_is_withheld_from_then_on(app, world, make_staff,
                                                                raise_notice, logged_in):
    """Decided at display time: the record moving away after the notice was written hides it."""
    from tests.support.world import make_prc_id

    bm, username = make_staff("BranchManager", "B1")
    marker = f"MOVE{uuid.uuid4().hex[:10]}"
    with app.app_context():
        serial = int(uuid.uuid4().int % 9000) + 1000
        customer = Customer(customer_no=f"N{uuid.uuid4().hex[:9]}", name="通知测试",
                            customer_type="individual", gender="F",
                            birth_date=dt.date(1990, 1, 1), id_type="PRC_ID",
                            id_number=make_prc_id(dt.date(1990, 1, 1), serial, male=False),
                            branch_id=world.branches["B1"], owner_id=world.staff["rm1"],
                            risk_tolerance="C3", status="active", custom_fields={},
                            onboarded_on=dt.date(2020, 1, 1))
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id
        db.session.remove()
    try:
        raise_notice([bm], "rule", _l("Rule notification %(n)s", n=marker),
                     customer_id=customer_id)
        client = logged_in(username)
        assert marker in client.get("/notifications/").get_data(as_text=True)
        with app.app_context():
            db.session.get(Customer, customer_id).branch_id = world.branches["B2"]
            db.session.commit()
            db.session.remove()
        assert marker not in client.get("/notifications/").get_data(as_text=True)
    finally:  # the shared test bank keeps its customers
        with app.app_context():
            db.session.delete(db.session.get(Customer, customer_id))
            db.session.commit()
            db.session.remove()
