"""Comments with @mentions in a real browser: the suggestion script (served by the app, run
under the CSP nonce, loaded with the 360 page and serving the tab that arrives later), the
chosen colleague written into the text, the posted comment with its highlighted mention, and
the author's warning when the colleague cannot see the record.

The customer and its task are the test's own (rm1's, branch B1), removed at the end with the
comments and notifications the test made: the shared world's threads stay as they were, and no
other test's comments (each with an edit box of its own) share the page.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.browser.steps import sign_in


@pytest.fixture
def own_customer(app, world):
    """(customer id, task id): rm1's new customer in B1 with an open callback task."""
    from sqlalchemy import delete, func, select

    from backoffice.extensions import db
    from models import Customer, FollowUp
    from models.comments import Comment
    from models.notifications import Notification
    from tests.support.world import make_prc_id

    unscoped = {"crm_unscoped": True}
    serial = uuid.uuid4().int % 900 + 100
    birth = dt.date(1982, 1 + serial % 12, 1 + serial % 28)
    with app.app_context():
        since = db.session.scalar(select(func.max(Notification.id))) or 0
        customer = Customer(
            customer_no=f"CM{uuid.uuid4().hex[:8].upper()}", name=f"评论客户{serial}",
            customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
            id_number=make_prc_id(birth, serial, male=False), branch_id=world.branches["B1"],
            owner_id=world.staff["rm1"], risk_tolerance="C3", status="active",
            custom_fields={}, onboarded_on=dt.date(2021, 1, 1), tier="mass")
        db.session.add(customer)
        db.session.flush()
        task = FollowUp(customer_id=customer.id, assignee_id=world.staff["rm1"],
                        title=f"回访 评论{serial}", task_type="callback",
                        due_at=dt.datetime(2026, 11, 3, 8, 0), status="open")
        db.session.add(task)
        db.session.commit()
        made = (customer.id, task.id)
        db.session.remove()
    yield made
    with app.app_context():
        db.session.execute(delete(Comment).where(Comment.customer_id == made[0]),
                           execution_options=unscoped)
        db.session.execute(delete(Notification).where(
            Notification.id > since, Notification.actor_id == world.staff["rm1"],
            Notification.kind.in_(["mention", "mention_hidden"])))
        db.session.execute(delete(FollowUp).where(FollowUp.id == made[1]),
                           execution_options=unscoped)
        db.session.execute(delete(Customer).where(Customer.id == made[0]),
                           execution_options=unscoped)
        db.session.commit()
        db.session.remove()


def test_a_relationship_manager_mentions_colleagues_in_comments(page, live_server, world, shoot,
                                                                own_customer):
    customer_id, task_id = own_customer
    errors = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    sign_in(page, live_server, "rm1")
    page.goto(f"{live_server}/customers/show/{customer_id}")
    page.click("#tab-link-comments")
    box = page.locator(f"#comment-body-customer-{customer_id}")  # the new-comment box
    box.wait_for()
    box.click()
    page.keyboard.type("请 @bm")
    menu = page.locator(".crm-mention-menu")
    menu.wait_for()
    assert "测试bm1 (bm1)" in menu.inner_text()
    shoot("01-mention-suggestions")
    menu.locator("a", has_text="(bm1)").click()
    assert box.input_value() == "请 @测试bm1 "
    assert page.locator("#comment-add-form input[name=mention_ids]").get_attribute("value") == \
        str(world.staff["bm1"])
    text = f"周五前回电 {uuid.uuid4().hex[:8]}"
    page.keyboard.type(text)
    with page.expect_navigation():
        page.locator("#comment-add-form button[type=submit]").click()
    comment = page.locator("#tab-comments .crm-comment", has_text=text)
    comment.wait_for()
    assert comment.locator(".crm-mention").inner_text() == "@测试bm1"
    assert page.locator(".alert-warning", has_text="测试bm1").count() == 0  # bm1 sees B1
    shoot("02-comment-posted")

    # On the customer's task, a colleague of another branch: told only that they were named.
    page.goto(f"{live_server}/followups/show/{task_id}")
    box = page.locator(f"#comment-body-follow_up-{task_id}")
    box.click()
    page.keyboard.type("@测试rm3 ")
    box.type(f"请协助 {uuid.uuid4().hex[:8]}")
    with page.expect_navigation():
        page.locator("#comment-add-form button[type=submit]").click()
    warning = page.locator(".alert-warning", has_text="测试rm3")
    warning.wait_for()
    shoot("03-hidden-mention-warning")
    assert not [e for e in errors if "Content Security Policy" in e], errors
