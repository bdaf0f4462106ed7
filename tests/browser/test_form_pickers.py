"""The follow-up due-date picker, end to end in Chromium (Chinese, the staff's default).

rm1 opens "add follow-up", picks the 15th of next month in the calendar (whose month and day
names are Chinese), chooses 14:30 in the time select, saves, and the task's page shows that due
time; the edit form shows the same day and time back. A due value the form cannot read is
refused next to the field (no task is saved with the SLA's default instead).
"""
from __future__ import annotations

import pytest
from sqlalchemy import delete

from tests.browser.steps import sign_in
from tests.support.world import customer_number

TITLE = "浏览器测试回访到期时间"


@pytest.fixture
def cleanup(app):
    yield
    from backoffice.extensions import db
    from models import FollowUp

    with app.app_context():
        db.session.execute(delete(FollowUp).where(FollowUp.title.like(f"{TITLE}%")))
        db.session.commit()
        db.session.remove()


def _task_id(app, title) -> int:
    from backoffice.extensions import db
    from models import FollowUp

    with app.app_context():
        task_id = db.session.query(FollowUp.id).filter(FollowUp.title == title).scalar()
        db.session.remove()
    assert task_id is not None, "the task was not saved"
    return task_id


def test_due_date_picker_round_trip(page, shoot, live_server, world, app, cleanup):
    base = live_server
    sign_in(page, base, "rm1")
    page.goto(f"{base}/followups/add")
    page.fill("#customer", customer_number(world, "c_rm1"))
    page.fill("#title", TITLE)
    page.select_option("#task_type", "callback")

    assert "__None" not in page.locator("body").inner_text()  # the assignee's empty choice
    page.locator("#due_at").click()
    calendar = page.locator(".datepicker-dropdown")
    calendar.wait_for(state="visible")
    assert "一" in calendar.locator(".datepicker-days thead").inner_text()  # 周一 …, not Mo
    assert "月" in calendar.locator(".datepicker-days .datepicker-switch").inner_text()
    # The button texts come from the app's catalogue (English until its Chinese is merged).
    assert calendar.locator(".datepicker-days th.today").inner_text().strip() in ("今天", "Today")
    calendar.locator(".datepicker-days th.next").click()
    calendar.locator(".datepicker-days td.day:not(.old):not(.new)", has_text="15").first.click()
    day = page.input_value("#due_at")
    assert day.endswith("-15"), day
    assert page.input_value("#due_at-time") == "09:00"  # proposed, visible, changeable
    page.select_option("#due_at-time", "14:30")
    shoot("01-rm-picks-due-date")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert page.locator(".alert-danger, .has-error").count() == 0, page.content()[:2000]

    task_id = _task_id(app, TITLE)
    page.goto(f"{base}/mytasks/list/")
    row = page.locator(f"table tbody tr:has(a[href$='/show/{task_id}'])")
    if row.count():  # on the first page of rm1's open tasks (ordered by due time)
        assert f"{day} 14:30" in row.first.inner_text()
    page.goto(f"{base}/followups/show/{task_id}")
    assert f"{day} 14:30" in page.locator("body").inner_text()
    shoot("02-rm-task-shows-due-date")

    page.goto(page.url.replace("/show/", "/edit/"))
    assert page.input_value("#due_at") == day
    assert page.input_value("#due_at-time") == "14:30"

    # Only a day, no time: refused next to the field, nothing saved.
    page.goto(f"{base}/followups/add")
    page.fill("#customer", customer_number(world, "c_rm1"))
    page.fill("#title", f"{TITLE}-拒绝")
    page.select_option("#task_type", "callback")
    page.locator("#due_at").press_sequentially("2031-12-08")
    page.keyboard.press("Escape")
    page.select_option("#due_at-time", "")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert "请同时选择时间" in page.content() or "Choose a time" in page.content()
    shoot("03-rm-refused-due-without-time")
