"""Helpers of the comment tests: posting through the real forms, and records of every place.

Each test makes its own records (a change request, a campaign, staff) and writes unique markers,
so the session-wide bank of ``tests/support/world.py`` stays as the other tests expect it. The
comments a test posts on the world's records are removed after it (``_comments_removed``): a
thread on a shared customer must not grow with every test that ran before. Comment ids are
named only inside the operation log's details, so a reused id confuses nothing; the change
requests, campaigns and colleagues the tests make stay (their ids head log rows of their own).
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.support.web import csrf_token

TOKEN_PAGE = "/resetmypassword/form"  # a form every member of staff may open


def last_comment_id(app) -> int:
    from sqlalchemy import func

    from backoffice.extensions import db
    from models.comments import Comment

    with app.app_context():
        value = db.session.scalar(select(func.max(Comment.id))
                                  .execution_options(crm_unscoped=True)) or 0
        db.session.remove()
    return value


def remove_comments_after(app, comment_id: int) -> None:
    """Delete every comment newer than ``comment_id`` (the row, not the "deleted" mark)."""
    from sqlalchemy import delete as delete_rows

    from backoffice.extensions import db
    from models.comments import Comment

    with app.app_context():
        db.session.execute(delete_rows(Comment).where(Comment.id > comment_id),
                           execution_options={"crm_unscoped": True})
        db.session.commit()
        db.session.remove()


@pytest.fixture(autouse=True)
def _comments_removed(app):
    """The comments a test posts go with it. Module fixtures (set up before this one) keep
    theirs until their own teardown."""
    before = last_comment_id(app)
    yield
    remove_comments_after(app, before)


@pytest.fixture
def client_as(client_as):
    """Staff clients reading English: the assertions quote the English messages (the Chinese
    ones are checked by the catalogue tests)."""

    def _make(username: str):
        client = client_as(username)
        client.get("/lang/en")
        return client

    return _make


def marker(prefix: str = "评论标记") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, TOKEN_PAGE), **data})


def add(client, place: str, entity_id: int, body: str, picks=()):
    return post(client, f"/comments/add/{place}/{entity_id}", body=body,
                mention_ids=[str(p) for p in picks])


def edit(client, comment_id: int, body: str, picks=()):
    return post(client, f"/comments/edit/{comment_id}", body=body,
                mention_ids=[str(p) for p in picks])


def delete(client, comment_id: int):
    return post(client, f"/comments/delete/{comment_id}")


def comment_with(app, text: str):
    """The comment whose text contains ``text`` (unscoped, as a test sees the database)."""
    from backoffice.extensions import db
    from models.comments import Comment

    with app.app_context():
        row = db.session.scalars(select(Comment).where(Comment.body.contains(text))).one()
        db.session.expunge(row)
        db.session.remove()
    return row


def flashes(client) -> str:
    """The next page's flashed messages (the home page shows them)."""
    with client.session_transaction() as session:
        return " ".join(str(message) for _category, message in session.get("_flashes", []))


def notifications_of(app, staff_id: int, since_id: int = 0) -> list[tuple[str, str]]:
    """(kind, text in English) of a colleague's notifications newer than ``since_id``."""
    from backoffice import stored_text
    from backoffice.extensions import db
    from models.notifications import Notification

    with app.test_request_context():
        rows = db.session.scalars(select(Notification).where(
            Notification.recipient_id == staff_id, Notification.id > since_id)
            .order_by(Notification.id)).all()
        result = [(row.kind, stored_text.show(row.message) or "", row.link or "",
                   row.customer_id) for row in rows]
        db.session.remove()
    return result


def last_notification_id(app) -> int:
    from sqlalchemy import func

    from backoffice.extensions import db
    from models.notifications import Notification

    with app.app_context():
        value = db.session.scalar(select(func.max(Notification.id))) or 0
        db.session.remove()
    return value


@pytest.fixture
def change_request(app, world):
    """``change_request("c_rm3")``: a new pending change request about that customer, made by
    its relationship manager in the customer's branch."""
    from backoffice.extensions import db
    from models import ChangeRequest, Customer, crypto
    from tests.support.world import CUSTOMERS

    def make(customer_key: str) -> int:
        owner, _teller, _branch = CUSTOMERS[customer_key]
        with app.app_context():
            customer = db.session.get(Customer, world.customers[customer_key])
            change = ChangeRequest(kind="update", status="pending", branch_id=customer.branch_id,
                                   maker_id=world.staff[owner], customer_id=customer.id,
                                   base_version=customer.version,
                                   record_uid=crypto.new_record_uid())
            change.values = {"occupation": marker("职业")}
            db.session.add(change)
            db.session.commit()
            pk = change.id
            db.session.remove()
        return pk

    return make


@pytest.fixture
def campaign(app, world):
    """A new draft campaign (campaigns belong to no customer and no branch)."""
    from backoffice.extensions import db
    from models import Campaign

    with app.app_context():
        row = Campaign(name=marker("评论活动"), status="draft", product_id=world.product_id,
                       channels=["phone"])
        db.session.add(row)
        db.session.commit()
        pk = row.id
        db.session.remove()
    return pk


@pytest.fixture
def staff_member(app):
    """``staff_member(role, branch_id, first, last, active=True)``: a new colleague (id).

    Kept after the test, under a name of its own: removing a row would let SQLite give its id
    (and the operation log's rows about it) to the next colleague another test makes."""
    from backoffice.extensions import db
    from tests.support.web import PASSWORD
    from tests.support.world import ACCEPTED_AT

    def make(role: str, branch_id=None, first_name=None, last_name="测试", active=True) -> int:
        sm = app.appbuilder.sm
        username = f"cm{uuid.uuid4().hex[:10]}"
        with app.app_context():
            user = sm.add_user(username=username, first_name=first_name or username,
                               last_name=last_name, email=f"{username}@example.com",
                               role=sm.find_role(role), password=PASSWORD)
            user.branch_id = branch_id
            user.active = active
            user.confidentiality_accepted_at = ACCEPTED_AT  # signs in straight to the screens
            db.session.commit()
            pk = user.id
            db.session.remove()
        return pk

    return make
