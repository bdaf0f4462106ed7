"""The home panel of the roles that run the bank's machinery rather than a book of customers:
background jobs of the last 30 days by status (imports, refreshes, scoring, campaign sends),
each bar opening the job list filtered to that status.

Job runs hold no customer data and everyone who may read the job list sees every run, so the
panel counts ``job_run`` directly (one grouped query over an indexed, small table). Who sees it
is decided by a permission, not by role names: every role granted read on the job list
(``config/roles.py``).
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice import charts
from backoffice.dashboards.empty import empty_state, link_if_allowed
from backoffice.dashboards.links import list_url
from backoffice.dashboards.registry import Panel, register_panel
from backoffice.extensions import db
from models.base import utcnow
from models.choices import JOB_STATUSES
from models.jobs import JobRun

DAYS = 30


# The panel summarises the job list: whoever may read that list sees it.
JOB_LIST = ("can_read", "JobRun")


def jobs_panel():
    since = utcnow() - dt.timedelta(days=DAYS)
    counts = dict(db.session.execute(
        select(JobRun.status, func.count(JobRun.id)).where(JobRun.created_at >= since)
        .group_by(JobRun.status)).all())
    if not counts:
        return empty_state(_("No background job ran in the last %(days)s days: imports, "
                             "refreshes and scoring appear here when they run.", days=DAYS),
                           _("Open the job list"), link_if_allowed("JobRunView"))
    codes = [code for code in JOB_STATUSES if counts.get(code)]
    figure = charts.bar([str(JOB_STATUSES[code]) for code in codes],
                        [counts[code] for code in codes],
                        links=[list_url("JobRunView", ("status", "eq", code)) for code in codes],
                        title=_("Background jobs of the last %(days)s days", days=DAYS))
    return {"figure": figure, "refreshed_at": None}


def install() -> None:
    register_panel(Panel("jobs", _l("Background jobs"), jobs_panel, permission=JOB_LIST,
                         order=90))
