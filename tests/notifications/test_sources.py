"""The sources this room wires itself: tasks assigned, approvals waiting, imports finished."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import literal, select

from backoffice.extensions import db
from backoffice.notifications import sources
from models import FollowUp, Staff
from models.notifications import Notification


def _notices(staff_id, kind=None):
    query = select(Notification).where(Notification.recipient_id == staff_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return db.session.scalars(query.order_by(Notification.id)).all()


def _task(customer_id, assignee_id, title="回访"):
    return FollowUp(customer_id=customer_id, assignee_id=assignee_id, title=title,
                    task_type="callback", due_at=dt.datetime(2031, 1, 1), status="open")


# --- tasks assigned ---------------------------------------------------------------------------


def test_a_task_created_or_reassigned_tells_the_new_assignee(app, make_staff, new_customer):
    first, _ = make_staff("RelationshipManager", "B1")
    second, _ = make_staff("RelationshipManager", "B1")
    customer = new_customer(first)
    with app.app_context():
        task = _task(customer, first, title="回访 task-3141")
        db.session.add(task)
        db.session.commit()
        [notice] = _notices(first, "task_assigned")
        assert (notice.entity, notice.entity_id, notice.customer_id) == (
            "FollowUp", task.id, customer)
        assert notice.link == f"/followups/show/{task.id}"
        task.notes = "edited, same assignee"
        db.session.commit()
        assert len(_notices(first)) == 1  # an edit that keeps the assignee tells nobody
        task.assignee_id = second
        db.session.commit()
        assert len(_notices(first)) == 1 and len(_notices(second, "task_assigned")) == 1
        db.session.remove()


def test_a_task_the_actor_gives_themselves_tells_nobody(app, make_staff, new_customer,
                                                        monkeypatch):
    me, _ = make_staff("RelationshipManager", "B1")
    customer = new_customer(me)
    with app.app_context():
        acting = db.session.get(Staff, me)
        monkeypatch.setattr(sources, "current_user", lambda: acting)
        db.session.add(_task(customer, me))
        db.session.commit()
        assert _notices(me) == []
        db.session.remove()


def test_a_task_made_on_the_follow_up_screen_tells_the_assignee_not_the_maker(
        app, world, make_staff, new_customer, logged_in):
    """Through the real form: the maker (signed in) is the actor."""
    from tests.support.web import csrf_token

    maker, maker_name = make_staff("BranchManager", "B1")
    assignee, _ = make_staff("RelationshipManager", "B1")
    customer = new_customer(assignee)
    with app.app_context():
        from models import Customer

        number = db.session.get(Customer, customer).customer_no
        db.session.remove()
    client = logged_in(maker_name)
    token = csrf_token(client, "/followups/add")
    response = client.post("/followups/add", data={
        "csrf_token": token, "customer": number, "assignee": str(assignee),
        "title": "screen-task-2718", "task_type": "callback", "due_at": "2031-01-01 10:00"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        [notice] = _notices(assignee, "task_assigned")
        assert notice.actor_id == maker
        assert _notices(maker) == []
        db.session.remove()


def test_churn_tasks_inserted_set_based_tell_their_assignees(app, make_staff, new_customer):
    from backoffice.churn import tasks

    owner, _ = make_staff("RelationshipManager", "B1")
    customer = new_customer(owner)
    with app.app_context():
        rows = select(literal(customer), literal(owner), literal("挽留 churn-1618"),
                      literal("retention"), literal(dt.datetime(2031, 1, 1)), literal("open"),
                      literal("churn"), literal(dt.datetime(2030, 12, 1)))
        assert tasks._insert_tasks(db.session, rows) == 1
        db.session.commit()
        [notice] = _notices(owner, "task_assigned")
        assert notice.entity == "FollowUp" and notice.customer_id == customer
        db.session.remove()


# --- approvals waiting ------------------------------------------------------------------------


def test_a_change_request_tells_the_checkers_of_its_branch(app, world, make_staff,
                                                           new_customer):
    from backoffice.review import service

    maker, _ = make_staff("RelationshipManager", "B1")
    checker_b1, _ = make_staff("BranchManager", "B1")
    checker_b2, _ = make_staff("BranchManager", "B2")
    customer = new_customer(maker)
    with app.app_context():
        request = service.change_customer(db.session.get(Staff, maker), customer,
                                          {"status": "closed"})
        assert request is not None
        for staff_id in (checker_b1, world.staff["bm1"]):
            notices = [n for n in _notices(staff_id, "approval_waiting")
                       if n.entity == "ChangeRequest" and n.entity_id == request.id]
            assert len(notices) == 1 and notices[0].link == f"/review/show/{request.id}"
        for staff_id in (checker_b2, maker, world.staff["senior"]):
            assert not [n for n in _notices(staff_id) if n.entity == "ChangeRequest"
                        and n.entity_id == request.id]
        db.session.remove()


def test_approvers_fall_back_to_bank_wide_holders_when_the_branch_has_none(app, world):
    """A branch without a checker of its own: those whose scope covers every branch."""
    from models import Branch

    with app.app_context():
        branch = Branch(code=f"N{uuid.uuid4().hex[:6]}", name="无审核支行")
        db.session.add(branch)
        db.session.commit()
        try:
            found = sources.approvers(db.session, "can_approve", "ChangeRequest", branch.id)
            assert world.staff["senior"] in found
            assert world.staff["bm1"] not in found and world.staff["bm2"] not in found
        finally:
            db.session.delete(branch)
            db.session.commit()
            db.session.remove()


# --- imports finished -------------------------------------------------------------------------


HEADER = ["客户号", "姓名", "身份证号", "出生日期", "手机号", "邮箱", "开户日期", "支行",
          "客户经理", "风险等级", "客户类型"]


def _csv(prefix: str, bad: bool = False) -> bytes:
    from tests.imports.conftest import csv_bytes
    from tests.support.world import make_prc_id

    birth = dt.date(1983, 3, 4)
    row = [f"{prefix}0001", "导入客户", make_prc_id(birth, 811), "1983年3月4日", "13912340001",
           "nt@example.com", "2024/3/5", "B1", "rm1", "稳健型", "个人"]
    if bad:
        row[2] = "not an id"
    return csv_bytes(HEADER, [row])


def test_an_import_committed_or_failed_tells_its_uploader(app, world, make_staff):
    from backoffice.imports import pipeline, service
    from models.imports import ImportBatch
    from tests.imports.conftest import remove_batches_data

    operator, _ = make_staff("Operator")
    batches = []
    with app.app_context():
        try:
            user = db.session.get(Staff, operator)
            good, _ = service.upload(db.session, _csv(f"NTG{uuid.uuid4().hex[:5]}"), "g.csv",
                                     "customers", user=user)
            batches.append(good.id)
            assert pipeline.commit(db.session, good.id)["status"] == "committed"
            bad, _ = service.upload(db.session, _csv(f"NTB{uuid.uuid4().hex[:5]}", bad=True),
                                    "b.csv", "customers", user=db.session.get(Staff, operator))
            batches.append(bad.id)
            assert pipeline.commit(db.session, bad.id)["status"] == "failed"
            notices = _notices(operator, "import_finished")
            assert [(n.entity_id, n.link) for n in notices] == [
                (good.id, f"/imports/batch/{good.id}"), (bad.id, f"/imports/batch/{bad.id}")]
            assert db.session.get(ImportBatch, good.id).uploaded_by_id == operator
        finally:
            remove_batches_data(batches)
            db.session.remove()


def test_an_interrupted_import_tells_its_uploader(app, world, make_staff):
    from backoffice.imports import liveness, service
    from tests.imports.conftest import remove_batches_data

    operator, _ = make_staff("Operator")
    with app.app_context():
        batch, _ = service.upload(db.session, _csv(f"NTI{uuid.uuid4().hex[:5]}"), "i.csv",
                                  "customers", user=db.session.get(Staff, operator))
        try:
            batch.status = "running"
            db.session.commit()
            assert liveness.mark_interrupted(db.session, batch.id, "worker lost")
            [notice] = _notices(operator, "import_finished")
            assert notice.entity_id == batch.id
        finally:
            remove_batches_data([batch.id])
            db.session.remove()


def test_an_export_request_tells_those_who_may_decide_it(app, world, make_staff, new_customer,
                                                         logged_in, capped):
    """The deciders are the export rules' own (a second person whose scope covers the
    requester's book): a branch manager of the book's branch, not of the other branch."""
    from sqlalchemy import delete

    from models.imports import ExportRequest
    from tests.imports.test_export_approval_scope import ask

    requester, username = make_staff("RelationshipManager", "B1")
    new_customer(requester, "B1")
    entry = ask(app, logged_in(username))
    with app.app_context():
        try:
            def told(staff_id):
                return [n for n in _notices(staff_id, "approval_waiting")
                        if n.entity == "ExportRequest" and n.entity_id == entry.id]

            assert len(told(world.staff["bm1"])) == 1 and len(told(world.staff["senior"])) == 1
            assert told(world.staff["bm2"]) == [] and told(requester) == []
            assert told(world.staff["bm1"])[0].link == "/exportrequests/"
        finally:
            db.session.execute(delete(ExportRequest).where(ExportRequest.id == entry.id))
            db.session.commit()
            db.session.remove()


def test_a_submitted_campaign_tells_its_approvers_not_its_author(app, world, make_staff):
    from decimal import Decimal

    from sqlalchemy import delete

    from backoffice.campaigns import service
    from models import Campaign

    author, _ = make_staff("BranchManager", "B1")
    approver, _ = make_staff("SeniorManager")
    with app.app_context():
        campaign = Campaign(name=f"通知活动{uuid.uuid4().hex[:6]}", status="draft",
                            product_id=world.product_id, channels=["sms"], target_tiers=[],
                            target_segment_ids=[], target_rule={"op": "and", "items": []},
                            custom_fields={}, created_by_id=author,
                            control_share=Decimal("0.1"), start_on=dt.date(2031, 1, 1),
                            end_on=dt.date(2031, 2, 1))
        db.session.add(campaign)
        db.session.commit()
        try:
            service.transition(campaign, "submit", db.session.get(Staff, author))
            [notice] = [n for n in _notices(approver, "approval_waiting")
                        if n.entity == "Campaign"]
            assert notice.entity_id == campaign.id
            assert notice.link == f"/campaigns/show/{campaign.id}"
            assert _notices(author) == []
        finally:
            db.session.execute(delete(Campaign).where(Campaign.id == campaign.id))
            db.session.commit()
            db.session.remove()


def test_a_task_added_through_the_orm_and_passed_on_is_told_once(app, make_staff,
                                                                 new_customer):
    """A caller that adds a task through the ORM and also hands its id to ``tasks_inserted``
    (as the set-based paths do) does not tell the assignee twice."""
    owner, _ = make_staff("RelationshipManager", "B1")
    customer = new_customer(owner)
    with app.app_context():
        task = _task(customer, owner, title="once-1414")
        db.session.add(task)
        db.session.flush()
        sources.tasks_inserted(db.session, [task.id])
        db.session.commit()
        assert len(_notices(owner, "task_assigned")) == 1
        db.session.remove()
