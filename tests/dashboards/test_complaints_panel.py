"""The complaints panel: opened per month, still open, mean hours to resolve and mean re-check
satisfaction come from the summary refresh and add up in each role's scope; each month's point
opens the complaint list filtered to that month.

Expected figures are computed in Python from the ORM rows the test database holds; the test's
own complaints are deleted afterwards.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict

import pytest
from sqlalchemy import delete, select

from backoffice.dashboards import summaries
from backoffice.security import scopes
from backoffice.service.dashboard import complaints_figures
from models import Complaint, Customer
from models.base import utcnow
from tests.support.web import csrf_token


@pytest.fixture
def complaints(app, world):
    from backoffice.extensions import db

    with app.app_context():
        session = db.session
        now = utcnow()
        made = [
            Complaint(customer_id=world.customers["c_rm1"], summary="C8 resolved", status="rechecked",
                      opened_at=now - dt.timedelta(hours=50),
                      resolved_at=now - dt.timedelta(hours=20),
                      rechecked_at=now - dt.timedelta(hours=2), recheck_satisfaction=4),
            Complaint(customer_id=world.customers["c_rm2"], summary="C8 resolved 2",
                      status="resolved", opened_at=now - dt.timedelta(hours=30),
                      resolved_at=now - dt.timedelta(hours=20)),
            Complaint(customer_id=world.customers["c_rm3"], summary="C8 rechecked",
                      status="rechecked", opened_at=now - dt.timedelta(hours=12),
                      resolved_at=now - dt.timedelta(hours=6),
                      rechecked_at=now - dt.timedelta(hours=1), recheck_satisfaction=1),
        ]
        session.add_all(made)
        summaries.refresh_all(session, now=now)
        session.commit()
        yield session, now
        session.rollback()
        session.execute(delete(Complaint).where(Complaint.id.in_([c.id for c in made])))
        summaries.refresh_all(session)
        session.commit()
        session.remove()


def _scope(world, who):
    return {
        "senior": scopes.RecordScope("all", user_id=world.staff["senior"]),
        "bm1": scopes.RecordScope("branch", user_id=world.staff["bm1"],
                                  branch_id=world.branches["B1"]),
        "bm2": scopes.RecordScope("branch", user_id=world.staff["bm2"],
                                  branch_id=world.branches["B2"]),
        "rm1": scopes.RecordScope("own", user_id=world.staff["rm1"],
                                  branch_id=world.branches["B1"]),
    }[who]


def _expected(session, scope, now):
    since = dt.datetime.combine(summaries.months_back(now), dt.time())
    opened, hours, satisfaction, still_open = defaultdict(int), defaultdict(list), \
        defaultdict(list), 0
    rows = session.execute(select(Complaint, Customer).join(Customer),
                           execution_options={"crm_unscoped": True}).all()
    for complaint, customer in rows:
        if scope.kind == "branch" and customer.branch_id != scope.branch_id:
            continue
        if scope.kind == "own" and customer.owner_id != scope.user_id:
            continue  # (no RM here serves as a teller)
        if complaint.status in ("open", "assigned"):
            still_open += 1
        if complaint.opened_at >= since:
            opened[complaint.opened_at.strftime("%Y-%m")] += 1
        if complaint.resolved_at and complaint.resolved_at >= since:
            spent = (complaint.resolved_at - complaint.opened_at).total_seconds() / 3600
            hours[complaint.resolved_at.strftime("%Y-%m")].append(spent)
        if complaint.rechecked_at and complaint.rechecked_at >= since \
                and complaint.recheck_satisfaction is not None:
            satisfaction[complaint.rechecked_at.strftime("%Y-%m")].append(
                complaint.recheck_satisfaction)
    return opened, hours, satisfaction, still_open


@pytest.mark.parametrize("who", ["senior", "bm1", "bm2", "rm1"])
def test_complaint_figures_match_the_rows_of_each_scope(complaints, world, who):
    """Opened per month, still open, mean hours and mean satisfaction per month equal what
    the complaint rows of the scope say (a branch manager: the branch; an RM: the book)."""
    session, now = complaints
    scope = _scope(world, who)
    opened, hours, satisfaction, still_open = _expected(session, scope, now)
    data = complaints_figures(scope)
    assert data["still_open"] == still_open
    months = data["months"]
    assert dict(zip(months, data["opened"])) == {m: opened.get(m, 0) for m in months}
    assert set(opened) <= set(months)
    for month, mean in zip(months, data["mean_hours"]):
        expected = hours.get(month)
        if expected:
            assert mean == pytest.approx(sum(expected) / len(expected), abs=0.02)
        else:
            assert mean is None
    for month, mean in zip(months, data["mean_satisfaction"]):
        expected = satisfaction.get(month)
        assert mean == (round(sum(expected) / len(expected), 2) if expected else None)


def test_branch_figures_exclude_the_other_branch(complaints, world):
    """bm2's branch holds only c_rm3: its satisfaction is that customer's 1, never bm1's 4."""
    data = complaints_figures(_scope(world, "bm2"))
    month = utcnow().strftime("%Y-%m")
    assert 1.0 in data["mean_satisfaction"]
    assert 4.0 not in data["mean_satisfaction"]
    assert month in data["months"]


def _figures(html: str) -> list[dict]:
    return [json.loads(raw.replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&"))
            for raw in re.findall(r"data-figure='([^']*)'", html)]


@pytest.mark.parametrize("username, shown", [("senior", True), ("bm1", True), ("rm1", True),
                                             ("teller1", False), ("admin", False)])
def test_panel_per_role_and_months_open_the_filtered_complaint_list(
        complaints, client_as, username, shown):
    """Managers see the panel after a refresh and each month opens the complaint list
    filtered to complaints opened in that month; tellers and admins get no panel."""
    client = client_as(username)
    page = client.get("/").get_data(as_text=True)
    assert ('id="panel-complaints"' in page) is shown
    if not shown:
        return
    section = page.split('id="panel-complaints"')[1]
    figure = _figures(section)[0]
    links = figure["data"][0]["customdata"]
    assert links and len(links) == len(figure["data"][0]["x"])
    for month, link in zip(figure["data"][0]["x"], links):
        assert link.startswith("/service/complaints/list/")
        assert "opened_at" in link
        assert client.get(link).status_code == 200


def test_refresh_endpoint_fills_the_complaints_metric(complaints, client_as):
    """The dashboard refresh job (not a page view) writes the complaints rows."""
    client = client_as("senior")
    token = csrf_token(client, "/")
    assert client.post("/dashboard/refresh", data={"csrf_token": token}).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert 'id="panel-complaints"' in page
