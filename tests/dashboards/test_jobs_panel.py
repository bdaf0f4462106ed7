"""The background-jobs panel: the home of the roles that run the machinery (operators,
auditors, admins, senior managers: whoever may read the job list) counts the last 30 days' job
runs by status, and each bar opens the job list filtered to that status."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from backoffice.dashboards.operations import DAYS, JOB_LIST
from config.roles import ROLES
from models.base import utcnow
from models.jobs import JobRun
from tests.support.web import csrf_token


def _jobs_figure(page: str) -> dict | None:
    if 'id="panel-jobs"' not in page:
        return None
    panel = page.split('id="panel-jobs"', 1)[1].split('class="col-md-', 1)[0]
    raw = re.search(r"data-figure='([^']*)'", panel)
    if raw is None:
        return None
    return json.loads(raw.group(1).replace("&#39;", "'").replace("&quot;", '"')
                      .replace("&amp;", "&"))


def test_the_panel_goes_to_the_roles_that_read_the_job_list(app):
    from backoffice.dashboards.registry import all_panels

    [panel] = [p for p in all_panels() if p.key == "jobs"]
    assert panel.permission == JOB_LIST == ("can_read", "JobRun")
    readers = {name for name, spec in ROLES.items() if JOB_LIST in spec["permissions"]}
    assert readers == {"Admin", "SeniorManager", "Operator", "Auditor"}


@pytest.mark.parametrize("username, sees", [("operator", True), ("auditor", True),
                                            ("senior", True), ("rm1", False),
                                            ("teller1", False), ("bm1", False)])
def test_who_sees_the_jobs_panel(client_as, username, sees):
    page = client_as(username).get("/").get_data(as_text=True)
    assert ('id="panel-jobs"' in page) is sees


def test_bars_count_the_runs_of_the_last_30_days_and_open_the_filtered_list(app, client_as):
    senior = client_as("senior")
    senior.post("/dashboard/refresh", data={"csrf_token": csrf_token(senior, "/")})
    from backoffice.extensions import db

    with app.app_context():
        since = utcnow() - dt.timedelta(days=DAYS)
        expected = dict(db.session.execute(
            select(JobRun.status, func.count(JobRun.id)).where(JobRun.created_at >= since)
            .group_by(JobRun.status)).all())
        db.session.remove()
    operator = client_as("operator")
    figure = _jobs_figure(operator.get("/").get_data(as_text=True))
    assert figure is not None
    trace = figure["data"][0]
    assert sum(trace["y"]) == sum(expected.values()) and all(trace["y"])
    for link in trace["customdata"]:
        assert link and "/jobs/list/" in link
        assert operator.get(link).status_code == 200
