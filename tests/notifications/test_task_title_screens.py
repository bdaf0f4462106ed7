"""A task the system names reads in its reader's language on every screen that shows it.

The churn job's retention task and a complaint's resolution task keep their title as a message
id (``FollowUp.title_key``); the follow-up list, the show page, the customer's 360 task tab, the
export and the REST API show it in English to an English reader and in Chinese to a Chinese
one, whoever (or whichever job) made the task. A title a person typed reads as typed; a person
who changes a system title makes it typed, and one who saves the task with its title as read
keeps it the system's. The tasks are made outside a request, as the jobs make them.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import delete, select

AS_OF = dt.datetime(2026, 3, 2, 2, 0)  # Monday 10:00 in Shanghai


@pytest.fixture
def system_tasks(app, world, new_customer):
    """A customer of rm1's with a churn retention task, a complaint's task and a typed task:
    (customer id, customer number, {kind: task id}, complaint id)."""
    from backoffice.churn import tasks
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from backoffice.service import complaints
    from models import Customer, FollowUp
    from models.churn import ChurnScore
    from models.complaints import Complaint
    from models.notifications import Notification

    customer_id = new_customer(world.staff["rm1"], "B1")
    typed = f"周五致电 {uuid.uuid4().hex[:6]}"
    with app.app_context():
        write_scores(db.session, [{
            "customer_id": customer_id, "model_id": None, "probability": 0.8,
            "risk_band": "high", "value_band": "high", "warning_tier": "P1",
            "reasons": [], "signals": [], "scored_at": AS_OF}])
        db.session.commit()
        assert tasks.create_retention_tasks(db.session, AS_OF, customer_id, customer_id) == 1
        complaint = Complaint(customer_id=customer_id, summary="排队太久", status="open")
        db.session.add(complaint)
        db.session.flush()
        complaints.assign(db.session, app.config, complaint, world.staff["rm1"])
        db.session.add(FollowUp(customer_id=customer_id, assignee_id=world.staff["rm1"],
                                title=typed, task_type="callback", status="open",
                                source="manual", due_at=AS_OF + dt.timedelta(days=2)))
        db.session.commit()
        found = {kind: task_id for task_id, kind in db.session.execute(
            select(FollowUp.id, FollowUp.task_type).where(FollowUp.customer_id == customer_id))}
        number = db.session.get(Customer, customer_id).customer_no
        complaint_id = complaint.id
        db.session.remove()
    yield customer_id, number, found, complaint_id, typed
    with app.app_context():
        db.session.execute(delete(Notification).where(Notification.customer_id == customer_id,
                                                      Notification.entity == "FollowUp"))
        db.session.execute(delete(Complaint).where(Complaint.customer_id == customer_id),
                           execution_options={"crm_unscoped": True})
        db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id == customer_id))
        db.session.commit()
        db.session.remove()


def _visible(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _in(client, lang: str):
    client.get(f"/lang/{lang}")
    return client


def test_system_titles_read_in_the_readers_language_on_list_show_tab_and_export(
        app, system_tasks, logged_in):
    customer_id, number, found, complaint_id, typed = system_tasks
    retention, complaint_task = found["retention"], found["complaint_resolution"]
    english = {"Churn warning P1: retention follow-up", f"Resolve complaint #{complaint_id}"}
    chinese = {"流失预警 P1：挽留跟进", f"处理投诉 #{complaint_id}"}
    client = logged_in("rm1", "en")
    pages = {
        "list": f"/followups/list/?_flt_0_customer={number}",
        "my tasks": "/mytasks/list/?_flt_0_customer=" + number,
        "360 tab": f"/customers/show/{customer_id}/tab/tasks",
        "retention show": f"/followups/show/{retention}",
        "complaint show": f"/followups/show/{complaint_task}",
    }
    for lang, wanted, unwanted in (("en", english, chinese), ("zh", chinese, english)):
        _in(client, lang)
        for name, url in pages.items():
            response = client.get(url)
            assert response.status_code == 200, (name, response.status_code)
            text = _visible(response.get_data(as_text=True))
            shown = {title for title in wanted if title in text}
            if "show" in name:
                assert len(shown) == 1, (lang, name, text[:2000])
            else:
                assert shown == wanted, (lang, name)
                assert typed in text, (lang, name)  # a typed title as typed
            assert not {title for title in unwanted if title in text}, (lang, name)
        export = client.get(f"/followups/export/csv?_flt_0_customer={number}")
        assert export.status_code == 200
        body = export.get_data().decode("utf-8-sig")
        assert wanted <= {title for title in wanted if title in body}
        assert not {title for title in unwanted if title in body} and typed in body


def test_the_api_reads_system_titles_in_the_readers_language(app, system_tasks, logged_in):
    customer_id, _number, found, complaint_id, typed = system_tasks
    client = logged_in("rm1")
    expected = {"en": {"retention": "Churn warning P1: retention follow-up",
                       "complaint_resolution": f"Resolve complaint #{complaint_id}",
                       "callback": typed},
                "zh": {"retention": "流失预警 P1：挽留跟进",
                       "complaint_resolution": f"处理投诉 #{complaint_id}",
                       "callback": typed}}
    for lang, titles in expected.items():
        _in(client, lang)
        for kind, task_id in found.items():
            response = client.get(f"/api/v1/followup/{task_id}")
            assert response.status_code == 200
            assert response.get_json()["result"]["title"] == titles[kind], (lang, kind)
        listed = client.get("/api/v1/followup/?q=(filters:!((col:customer,opr:rel_o_m,value:"
                            f"{customer_id})),page_size:50)")
        assert listed.status_code == 200, listed.get_data(as_text=True)
        data = listed.get_json()
        by_id = dict(zip(data["ids"], (row["title"] for row in data["result"])))
        assert {kind: by_id[task_id] for kind, task_id in found.items()} == titles, lang


def test_a_person_who_changes_a_system_title_makes_it_typed(app, world, system_tasks,
                                                             logged_in):
    from backoffice.extensions import db
    from models import FollowUp
    from tests.support.web import api_token, post_form

    _customer_id, _number, found, complaint_id, _typed = system_tasks
    retention, complaint_task = found["retention"], found["complaint_resolution"]
    client = logged_in("rm1", "en")
    # Saved from the edit form as read (in English, with a new due time): still the system's.
    form = client.get(f"/followups/edit/{retention}").get_data(as_text=True)
    assert "Churn warning P1: retention follow-up" in form
    response = post_form(client, f"/followups/edit/{retention}", {
        "title": "Churn warning P1: retention follow-up", "task_type": "retention",
        "due_at": "2031-03-03 09:00:00", "assignee": world.staff["rm1"], "status": "open",
        "notes": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    # Changed through the API: typed from now on, in every language.
    token = api_token(app.test_client(), "rm1")
    response = app.test_client().put(f"/api/v1/followup/{complaint_task}",
                                     json={"title": "Call back about the queue"},
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        kept = db.session.get(FollowUp, retention)
        changed = db.session.get(FollowUp, complaint_task)
        assert kept.title_key and kept.title == "流失预警 P1：挽留跟进"
        assert kept.due_at.year == 2031  # the edit was saved
        assert changed.title_key is None and changed.title == "Call back about the queue"
        db.session.remove()
    _in(client, "zh")
    page = _visible(client.get(f"/followups/show/{complaint_task}").get_data(as_text=True))
    assert "Call back about the queue" in page and f"处理投诉 #{complaint_id}" not in page
    page = _visible(client.get(f"/followups/show/{retention}").get_data(as_text=True))
    assert "流失预警 P1：挽留跟进" in page
