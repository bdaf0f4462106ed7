"""Follow-up due times through the form: the picker's two inputs (day, time in the display
zone) are one stored UTC time; a value the form cannot read is refused with a message next to
the field, and nothing is saved (the task never silently takes the SLA's due time instead)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import delete, select

from models import FollowUp
from tests.support.web import csrf_token
from tests.support.world import customer_number


@pytest.fixture
def titles(db_session):
    made: list[str] = []
    yield made
    db_session.rollback()
    db_session.execute(delete(FollowUp).where(FollowUp.title.in_(made)))
    db_session.commit()


def _post(client, url, pairs):
    """Post a form whose inputs may repeat a name (the picker's day and time)."""
    from werkzeug.datastructures import MultiDict

    data = MultiDict([("csrf_token", csrf_token(client, url)), *pairs])
    return client.post(url, data=data)


def _task(db_session, title):
    db_session.expire_all()
    return db_session.scalars(select(FollowUp).where(FollowUp.title == title)).one_or_none()


def test_add_form_offers_a_day_and_a_time_in_the_users_language(client_as):
    page = client_as("rm1").get("/followups/add").get_data(as_text=True)
    assert 'data-crm-picker="datetime"' in page
    assert 'id="due_at-time"' in page and '<option value="17:45">17:45</option>' in page
    assert "appbuilder_datetime" not in page  # FAB's date-only calendar is gone
    texts = json.loads(re.search(r'data-texts="([^"]+)"', page).group(1).replace("&#34;", '"')
                       .replace("&quot;", '"'))
    assert texts["days"][1] == "星期一" and texts["months"][0] == "一月"
    assert texts["weekStart"] == 1  # Monday first in China
    assert page.count("crm-pickers.js") == 1


def test_the_calendar_speaks_english_after_the_switch(client_as):
    client = client_as("rm1")
    assert client.get("/lang/en").status_code == 302
    page = client.get("/followups/add").get_data(as_text=True)
    match = re.search(r'data-texts="([^"]+)"', page)
    texts = json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert texts["days"][1] == "Monday" and texts["today"] == "Today"
    assert 'data-language="en"' in page


def test_picked_day_and_time_are_the_due_time(client_as, world, db_session, titles):
    """14:30 on 8 Dec 2031 in Shanghai is stored as 06:30 UTC and shown back as 14:30."""
    title = "picker round trip"
    titles.append(title)
    client = client_as("rm1")
    response = _post(client, "/followups/add", [
        ("customer", customer_number(world, "c_rm1")), ("title", title),
        ("task_type", "callback"), ("due_at", "2031-12-08"), ("due_at", "14:30"),
        ("notes", "")])
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    task = _task(db_session, title)
    assert task.due_at == dt.datetime(2031, 12, 8, 6, 30)
    edit = client.get(f"/followups/edit/{task.id}").get_data(as_text=True)
    assert 'value="2031-12-08"' in edit and '<option value="14:30" selected>' in edit
    shown = client.get(f"/followups/show/{task.id}").get_data(as_text=True)
    assert "2031-12-08 14:30" in shown

    # Moving it on the edit form keeps the zone too.
    response = _post(client, f"/followups/edit/{task.id}", [
        ("title", title), ("task_type", "callback"), ("due_at", "2031-12-09"),
        ("due_at", "08:15"), ("status", "open"), ("notes", "")])
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert _task(db_session, title).due_at == dt.datetime(2031, 12, 9, 0, 15)


@pytest.mark.parametrize("pairs, message", [
    ([("due_at", "2031-12-08"), ("due_at", "")], "Choose a time as well as the day."),
    ([("due_at", ""), ("due_at", "10:00")], "Choose a day as well as the time."),
    ([("due_at", "08/12/2031"), ("due_at", "10:00")], "is not a date and time"),
    ([("due_at", "tomorrow")], "is not a date and time"),
])
def test_a_refused_due_value_says_why_and_saves_nothing(client_as, world, db_session, titles,
                                                        pairs, message):
    title = f"picker refused {len(titles)}-{pairs[0][1]}"
    titles.append(title)
    client = client_as("rm1")
    client.get("/lang/en")
    response = _post(client, "/followups/add", [
        ("customer", customer_number(world, "c_rm1")), ("title", title),
        ("task_type", "callback"), *pairs, ("notes", "")])
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _task(db_session, title) is None


def test_one_combined_value_still_works(client_as, world, db_session, titles):
    """A script posting ``YYYY-MM-DD HH:MM:SS`` in one value (older forms) is read the same."""
    title = "picker combined"
    titles.append(title)
    response = _post(client_as("rm1"), "/followups/add", [
        ("customer", customer_number(world, "c_rm1")), ("title", title),
        ("task_type", "callback"), ("due_at", "2031-03-03 09:00:00"), ("notes", "")])
    assert response.status_code == 302
    assert _task(db_session, title).due_at == dt.datetime(2031, 3, 3, 1, 0)


def test_date_columns_get_the_date_calendar(client_as):
    """FAB's converter gives model date columns the localised calendar, not its own."""
    page = client_as("teller1").get("/customers/add").get_data(as_text=True)
    assert re.search(r'<input[^>]*data-crm-picker="date"[^>]*id="birth_date"|'
                     r'<input[^>]*id="birth_date"[^>]*data-crm-picker="date"', page)
    assert "appbuilder_date" not in page
