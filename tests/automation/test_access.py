"""Who may see, edit and approve rules, on the screens: writers (admin, senior and branch
managers) and nobody else; a branch manager's rules are their branch's and act on it only; a
rule that messages customers goes on only after another person holding the approve permission
approves it; the list, dry run and run log never show customers the reader may not see."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.automation import engine
from backoffice.extensions import db
from models import Customer
from models.automation import AutomationRule
from tests.automation.conftest import tasks_of
from tests.support.web import csrf_token

WRITERS = ("admin", "senior", "bm1")


@pytest.fixture(autouse=True)
def _requests_in_their_own_globals(monkeypatch):
    """The bank fixture holds an app context, which test-client requests would share (its
    ``g`` carries one request's user and scope into the next client's): each request starts
    and ends with empty globals, and the test's session forgets what a request loaded."""
    from flask import g
    from flask.testing import FlaskClient

    original = FlaskClient.open

    def open_(self, *args, **kwargs):
        for key in list(vars(g)):
            delattr(g, key)
        try:
            return original(self, *args, **kwargs)
        finally:
            for key in list(vars(g)):
                delattr(g, key)
            db.session.rollback()
            db.session.expire_all()

    monkeypatch.setattr(FlaskClient, "open", open_)
OTHERS = ("rm1", "teller1", "operator", "auditor")
MESSAGE = {"kind": "message", "channel": "sms", "purpose": "service", "body": "{name}您好"}
TASK = {"kind": "task", "assignee": "owner", "task_type": "callback", "due_days": 1,
        "title": "规则任务"}


def form(bank, name, *, actions=("task",), **extra) -> dict:
    data = {"name": name, "trigger_kind": "schedule", "schedule_kind": "daily",
            "schedule_time": "00:00", "rule": __import__("json").dumps(bank.conditions())}
    for slot, kind in enumerate(actions):
        data[f"a{slot}_kind"] = kind
        if kind == "task":
            data.update({f"a{slot}_assignee": "owner", f"a{slot}_task_type": "callback",
                         f"a{slot}_title": "规则任务", f"a{slot}_due_days": "1"})
        if kind == "message":
            data.update({f"a{slot}_channel": "sms", f"a{slot}_purpose": "service",
                         f"a{slot}_body": "{name}您好"})
    data.update(extra)
    return data


def post(client, url, data, page="/automation/"):
    data = dict(data, csrf_token=csrf_token(client, page))
    return client.post(url, data=data, follow_redirects=False)


def saved(name) -> AutomationRule:
    db.session.rollback()
    rule = db.session.scalar(select(AutomationRule).where(AutomationRule.name == name))
    assert rule is not None, "the rule was not saved"
    return rule


@pytest.mark.parametrize("user", WRITERS)
def test_writers_reach_every_rule_screen(client_as, bank, user):
    client = client_as(user)
    for url in ("/automation/", "/automation/new", "/automation/approvals"):
        assert client.get(url).status_code == 200, url
    name = f"{bank.marker}-{user}"
    response = post(client, "/automation/new", form(bank, name), "/automation/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    rule = saved(name)
    bank.rule_ids.append(rule.id)
    for url in (f"/automation/rule/{rule.id}", f"/automation/edit/{rule.id}"):
        assert client.get(url).status_code == 200, url
    assert name in client.get("/automation/").get_data(as_text=True)


@pytest.mark.parametrize("user", OTHERS)
def test_other_roles_reach_no_rule_screen(client_as, bank, user):
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily", actions=[TASK])
    client = client_as(user)
    for url in ("/automation/", "/automation/new", f"/automation/rule/{rule.id}",
                f"/automation/edit/{rule.id}"):
        assert client.get(url).status_code in (302, 403, 404), url
    response = client.post(f"/automation/switch/{rule.id}", data={"on": ""})
    assert response.status_code in (302, 400, 403, 404)
    db.session.rollback()
    assert db.session.get(AutomationRule, rule.id).enabled


def test_a_branch_managers_rule_is_their_branchs_and_acts_on_it_only(client_as, bank, world):
    in_b1 = bank.customers(2, branch="B1", owner="rm1")
    in_b2 = bank.customers(2, branch="B2", owner="rm3")
    name = f"{bank.marker}-bm1"
    assert post(client_as("bm1"), "/automation/new", form(bank, name),
                "/automation/new").status_code == 302
    rule = saved(name)
    bank.rule_ids.append(rule.id)
    assert rule.branch_id == world.branches["B1"]
    assert client_as("bm2").get(f"/automation/rule/{rule.id}").status_code == 404
    assert name not in client_as("bm2").get("/automation/").get_data(as_text=True)
    assert client_as("senior").get(f"/automation/rule/{rule.id}").status_code == 200
    post(client_as("bm1"), f"/automation/switch/{rule.id}", {"on": "y"})
    assert saved(name).enabled
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:bm1")
    assert sorted(t.customer_id for t in tasks_of(in_b1 + in_b2)) == sorted(in_b1)


def test_the_run_log_and_the_list_show_only_customers_the_reader_may_see(client_as, bank):
    """A bank-wide rule acts in both branches: the senior manager's log lists both customers;
    the administrator (no customer scope) sees the rule and no customer, and no count of them;
    branch managers do not see the bank's rules at all."""
    in_b1 = bank.customers(1, branch="B1", owner="rm1")
    in_b2 = bank.customers(1, branch="B2", owner="rm3")
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily", actions=[TASK])
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:log")
    numbers = [db.session.get(Customer, cid).customer_no for cid in in_b1 + in_b2]
    run_id = db.session.scalar(select(engine.AutomationRun.id).where(
        engine.AutomationRun.rule_id == rule.id))
    senior = client_as("senior").get(f"/automation/run/{run_id}").get_data(as_text=True)
    assert all(number in senior for number in numbers)
    dry = client_as("senior").get(f"/automation/rule/{rule.id}").get_data(as_text=True)
    assert all(number in dry for number in numbers)
    admin = client_as("admin")
    for url in (f"/automation/run/{run_id}", f"/automation/rule/{rule.id}", "/automation/"):
        page = admin.get(url)
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert not any(number in text for number in numbers), url
    row = admin.get("/automation/").get_data(as_text=True)
    assert f'data-rule="{rule.id}"' in row
    for user in ("bm1", "bm2"):
        assert client_as(user).get(f"/automation/run/{run_id}").status_code == 404
        assert client_as(user).get(f"/automation/rule/{rule.id}").status_code == 404


def test_a_rule_that_messages_customers_needs_another_persons_approval(client_as, bank):
    customers = bank.customers(2)
    name = f"{bank.marker}-msg"
    senior = client_as("senior")
    assert post(senior, "/automation/new", form(bank, name, actions=("message",)),
                "/automation/new").status_code == 302
    rule = saved(name)
    bank.rule_ids.append(rule.id)
    page = f"/automation/rule/{rule.id}"
    post(senior, f"/automation/switch/{rule.id}", {"on": "y"}, page)
    assert not saved(name).enabled  # refused: not approved
    rule = saved(name)
    rule.enabled = True  # even switched on behind the screens' back, it does not run
    db.session.commit()
    assert engine.run_rule(db.session, rule.id, occurrence="manual:x") == {"refused": True}
    rule.enabled = False
    db.session.commit()
    post(senior, f"/automation/request-approval/{rule.id}", {}, page)
    assert saved(name).approval == "pending"
    post(senior, f"/automation/decide/{rule.id}", {"decision": "approve"}, page)
    assert saved(name).approval == "pending"  # the author may not approve their own rule
    assert client_as("rm1").post(f"/automation/decide/{rule.id}",
                                 data={"decision": "approve"}).status_code in (302, 400, 403,
                                                                              404)
    assert saved(name).approval == "pending"
    assert client_as("bm1").get(page).status_code == 404  # not their branch's rule
    post(client_as("admin"), f"/automation/decide/{rule.id}", {"decision": "approve"}, page)
    rule = saved(name)
    assert rule.approval == "approved" and rule.enabled
    assert rule.approved_by_id != rule.created_by_id
    summary = engine.run_rule(db.session, rule.id, occurrence="manual:approved")
    assert summary["acted"] == 2
    from models.automation import AutomationMessage

    assert len(db.session.scalars(select(AutomationMessage).where(
        AutomationMessage.rule_id == rule.id, AutomationMessage.customer_id.in_(customers)))
        .all()) == 2
    # changing what it sends withdraws the approval and switches it off
    data = form(bank, name, actions=("message",))
    data["a0_body"] = "新内容"
    post(senior, f"/automation/edit/{rule.id}", data, f"/automation/edit/{rule.id}")
    rule = saved(name)
    assert rule.approval == "none" and not rule.enabled


def test_a_makers_set_field_on_a_reviewed_field_becomes_a_change_request(bank, world):
    from backoffice.review.service import reviewed_fields
    from models import ChangeRequest

    reviewed = [f for f in reviewed_fields() if f in ("risk_tolerance", "occupation",
                                                        "service_notes", "flag_vip")]
    if not reviewed:
        pytest.skip("no settable customer field is reviewed in this configuration")
    key = reviewed[0]
    value = "C5" if key == "risk_tolerance" else "true" if key == "flag_vip" else "改"
    customers = bank.customers(1)
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily",
                     created_by_id=world.staff["rm1"],
                     actions=[{"kind": "set_field", "field": key, "value": value}])
    engine.run_rule(db.session, rule.id, occurrence="manual:cr")
    db.session.rollback()
    requests = db.session.scalars(select(ChangeRequest).where(
        ChangeRequest.customer_id == customers[0], ChangeRequest.status == "pending")).all()
    assert len(requests) == 1 and requests[0].maker_id == world.staff["rm1"]
    before = getattr(db.session.get(Customer, customers[0]), key)
    assert str(before) != value
