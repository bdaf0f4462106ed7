"""The relationship manager works the retention list, in a real browser.

Before the browser opens, rm1's customer c_rm1 gets a history that should worry a bank: a
satisfied contact five months ago, then a complaint last week scored 1 of 5 (the shared world
also gives every customer an open complaint case). The app's own scoring job
(``jobs.scoring.score_customers``, through ``jobs.queue.enqueue``) then scores the bank: no model
is trained on a three-customer world, so the risk comes from the rule signals (complaints,
satisfaction drop); c_rm1 is worth over 500,000, so high value × high risk = P1, and the job
gives rm1 a retention task.

rm1 then opens the churn warnings, sees only their own customer with the signals in words and
the task, opens the customer's 360 page from the list (the churn panel says why and links the
task), records the retention call, opens the task and marks it done; the task leaves "my tasks" and
the warning list. Screenshots: tests/screenshots/<test>-<step>.png (see SCREENSHOTS.md). Every
task, interaction and job run made here is deleted afterwards, and the score table is put back as
it was (the job scores every customer: the scores other tests planted are written back).
"""
from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, func, select

from tests.browser.steps import sign_in
from tests.support import kept_rows

CALL_SUMMARY = "挽留回访：已致电客户，减免转账手续费，客户同意继续持有理财。"


@pytest.fixture
def warned(app, world):
    """c_rm1's worrying history, the scoring job run, and everything undone afterwards."""
    from backoffice.extensions import db
    from jobs.queue import enqueue
    from models import FollowUp, Interaction, JobRun
    from models.base import utcnow
    from models.churn import ChurnScore

    customer_id = world.customers["c_rm1"]
    with app.app_context():
        before = {model: db.session.scalar(select(func.max(model.id))) or 0
                  for model in (FollowUp, Interaction, JobRun)}
        scores = kept_rows.snapshot(db.session, ChurnScore.__table__)
        now = utcnow()
        db.session.add_all([
            Interaction(customer_id=customer_id, staff_id=world.staff["rm1"],
                        occurred_at=now - dt.timedelta(days=150), channel="branch",
                        direction="inbound", topic="inquiry", summary="咨询理财，服务满意",
                        satisfaction=5, custom_fields={}),
            Interaction(customer_id=customer_id, staff_id=world.staff["rm1"],
                        occurred_at=now - dt.timedelta(days=6), channel="phone",
                        direction="inbound", topic="complaint", complaint=True,
                        summary="投诉转账手续费过高，表示考虑转行", satisfaction=1,
                        custom_fields={}),
        ])
        db.session.commit()
        run = enqueue("jobs.scoring.score_customers", description="churn scoring (browser test)")
        assert run.status == "finished", run.error
        score = db.session.execute(select(ChurnScore).where(
            ChurnScore.customer_id == customer_id)).scalar_one()
        assert score.warning_tier == "P1", (score.warning_tier, score.signals)
        task = db.session.execute(select(FollowUp).where(
            FollowUp.customer_id == customer_id, FollowUp.task_type == "retention",
            FollowUp.status == "open")).scalar_one()
        assert task.assignee_id == world.staff["rm1"]
        task_id, title = task.id, task.title
        db.session.remove()
    yield {"task_id": task_id, "title": title, "customer_id": customer_id}
    with app.app_context():
        db.session.execute(delete(FollowUp).where(FollowUp.id > before[FollowUp]))
        db.session.execute(delete(Interaction).where(Interaction.id > before[Interaction]))
        kept_rows.put_back(db.session, scores)
        db.session.execute(delete(JobRun).where(JobRun.id > before[JobRun]))
        db.session.commit()
        db.session.remove()


def test_relationship_manager_works_the_retention_list(page, shoot, live_server, app, world,
                                                       warned):
    from backoffice.extensions import db
    from models import FollowUp, Interaction

    base = live_server
    title = warned["title"]
    sign_in(page, base, "rm1")

    # 1. The warning list: only rm1's own customer, P1, the signals in words, the task.
    page.goto(f"{base}/churn/warnings/")
    table = page.locator("#churn-warnings")
    row = table.locator("tr.crm-churn-warning", has_text="客户c_rm1")
    expect(row).to_have_count(1)
    for other in ("客户c_rm2", "客户c_rm3"):  # warned too, but not rm1's customers
        expect(table).not_to_contain_text(other)
    expect(row.locator("td").first).to_have_text("P1")
    expect(row).to_contain_text("投诉")
    expect(row).to_contain_text("满意度")
    expect(row.locator(f"a[href$='/followups/show/{warned['task_id']}']")).to_have_count(1)
    shoot("01-rm-churn-warnings")

    # 2. Their open tasks: the retention task among them.
    page.goto(f"{base}/mytasks/list/")
    task_row = page.locator("table tbody tr", has_text=title).filter(has_text="客户c_rm1")
    expect(task_row).to_have_count(1)
    shoot("02-rm-my-tasks-with-retention-task")

    # 3. From the warning list to the customer's 360 page: why, and the task.
    page.goto(f"{base}/churn/warnings/")
    with page.expect_navigation():
        row.locator("a[href*='/customers/show/']").click()
    customer_url = page.url
    panel = page.locator("#churn-warning")
    expect(panel).to_have_attribute("data-tier", "P1")
    expect(panel.locator("#churn-signals")).to_contain_text("投诉")
    expect(panel.locator("#churn-signals")).to_contain_text("满意度")
    expect(panel.locator("#churn-task")).to_have_text(title)
    shoot("03-rm-360-churn-reasons")

    # 4. The retention call, recorded from the 360 page.
    with page.expect_navigation():
        page.locator("#record-interaction").click()
    page.select_option("#channel", "phone")
    page.select_option("#direction", "outbound")
    page.select_option("#topic", "retention")
    page.fill("#summary", CALL_SUMMARY)
    page.fill("#satisfaction", "4")
    shoot("04-rm-records-retention-call")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    page.goto(customer_url + "#tab-interactions")  # the 360 page's timeline tab
    expect(page.locator("#interactions")).to_contain_text(CALL_SUMMARY)
    shoot("05-rm-360-with-the-call")

    # 5. The task, opened from the churn panel, marked done (FAB asks to confirm).
    page.locator("#tab-link-profile").click()
    with page.expect_navigation():
        page.locator("#churn-task").click()
    shoot("06-rm-retention-task")
    page.locator("a[id$='-mark_done']").click()
    confirm = page.locator("#modal-confirm-ok:visible")  # FAB's show page has two modals
    expect(confirm).to_be_visible()
    shoot("07-rm-confirms-task-done")
    with page.expect_navigation():
        confirm.click()
    expect(page.locator(".alert-info")).to_have_count(1)
    shoot("08-rm-task-done")

    # 6. Gone from the open list and from the warning; the callback task stays.
    page.goto(f"{base}/mytasks/list/")
    expect(task_row).to_have_count(0)
    expect(page.locator("table tbody tr", has_text="回访 c_rm1")).to_have_count(1)
    shoot("09-rm-my-tasks-without-it")
    page.goto(f"{base}/churn/warnings/")
    expect(row).to_have_count(1)
    expect(row.locator("a[href*='/followups/show/']")).to_have_count(0)
    shoot("10-rm-warning-without-open-task")

    with app.app_context():
        task = db.session.get(FollowUp, warned["task_id"])
        assert task.status == "done" and task.completed_at is not None
        call = db.session.execute(select(Interaction).where(
            Interaction.summary == CALL_SUMMARY)).scalar_one()
        assert (call.customer_id, call.staff_id) == (warned["customer_id"], world.staff["rm1"])
        db.session.remove()
