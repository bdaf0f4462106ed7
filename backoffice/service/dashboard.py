"""The complaints panel of the home dashboard: opened per month, still open, mean hours to
resolve and mean re-check satisfaction per month, each month opening the complaint list.

The figures come from ``dashboard_summary`` (one ``complaints`` metric filled by the refresh
job), never from a scan of ``complaint`` per page view, and add up in the viewer's record scope
like every other panel. Means are sums over counts that travel in the ``amount`` column (the
count rides along as an amount of 1), because an "own" book only sees owner-row amounts: the
numerator and the denominator must come from the same rows.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import cast, literal, select, union_all

from backoffice import charts
from backoffice.dashboards import summaries
from backoffice.dashboards.figures import figures
from backoffice.dashboards.links import list_url
from backoffice.dashboards.registry import Panel, register_panel
from backoffice.extensions import db
from backoffice.service.complaints import _hours_between
from models import Customer
from models.base import Money
from config.roles import DASHBOARD_PANELS
from models.complaints import Complaint

METRIC = "complaints"
STILL_OPEN = ("open", "assigned")


def complaint_facts(session, now):
    """One fact per complaint event of the last twelve months (plus every still-open one).

    ``dim`` is ``opened:<month>``, ``open``, ``hours:<month>`` / ``resolved:<month>`` (hours to
    resolve, and a 1 to count them) or ``satisfaction:<month>`` / ``rechecked:<month>``.
    """
    c, k = Customer.__table__, Complaint.__table__
    since = dt.datetime.combine(summaries.months_back(now), dt.time())
    book = (c.c.branch_id, c.c.owner_id, c.c.teller_id)
    joined = k.join(c, c.c.id == k.c.customer_id)
    one = cast(literal(1), Money)

    def fact(dim, amount, *where):
        return select(*book, dim.label("dim"), amount.label("amount")).select_from(
            joined).where(*where)

    def month(column):
        return summaries.month_of(session, column)

    hours = cast(_hours_between(session, k.c.opened_at, k.c.resolved_at), Money)
    return union_all(
        fact(literal("opened:") + month(k.c.opened_at), summaries.no_amount(),
             k.c.opened_at >= since),
        fact(literal("open"), summaries.no_amount(), k.c.status.in_(STILL_OPEN)),
        fact(literal("hours:") + month(k.c.resolved_at), hours, k.c.resolved_at >= since),
        fact(literal("resolved:") + month(k.c.resolved_at), one, k.c.resolved_at >= since),
        fact(literal("satisfaction:") + month(k.c.rechecked_at),
             cast(k.c.recheck_satisfaction, Money), k.c.rechecked_at >= since,
             k.c.recheck_satisfaction.is_not(None)),
        fact(literal("rechecked:") + month(k.c.rechecked_at), one, k.c.rechecked_at >= since,
             k.c.recheck_satisfaction.is_not(None)),
    )


def _mean(amounts, total_key, count_key):
    total, count = amounts.get(total_key), amounts.get(count_key)
    if total is None or not count:
        return None
    return round(float(total) / float(count), 2)


def _month_bounds(month: str) -> tuple[str, str]:
    year, number = (int(part) for part in month.split("-"))
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return (first - dt.timedelta(days=1)).isoformat(), following.isoformat()


def complaints_figures(scope=None):
    """The panel's numbers in ``scope`` (default: the current one)."""
    result = figures(db.session, METRIC, scope)
    months = sorted({dim.split(":", 1)[1] for dim in result.counts if ":" in dim})
    return {
        "months": months,
        "opened": [result.counts.get(f"opened:{m}", 0) for m in months],
        "mean_hours": [_mean(result.amounts, f"hours:{m}", f"resolved:{m}") for m in months],
        "mean_satisfaction": [_mean(result.amounts, f"satisfaction:{m}", f"rechecked:{m}")
                              for m in months],
        "still_open": result.counts.get("open", 0),
        "refreshed_at": result.refreshed_at,
        "empty": result.empty,
    }


def complaints_panel():
    data = complaints_figures()
    if data["empty"]:
        return None
    months = data["months"]
    links = [list_url("ComplaintView", ("opened_at", "gt", _month_bounds(m)[0]),
                      ("opened_at", "lt", _month_bounds(m)[1])) for m in months]
    figure = charts.line(months, {_("Complaints opened"): data["opened"],
                                  _("Mean hours to resolve"): data["mean_hours"],
                                  _("Mean re-check satisfaction (1-5)"):
                                  data["mean_satisfaction"]},
                         links=links,
                         title=_("Complaints per month (still open: %(count)s)",
                                 count=data["still_open"]))
    figure["layout"]["xaxis"] = {"type": "category"}
    return {"figure": figure, "refreshed_at": data["refreshed_at"]}


def install() -> None:
    summaries.register_metric(METRIC, complaint_facts)
    [permission] = DASHBOARD_PANELS[METRIC]
    register_panel(Panel("complaints", _l("Complaints and resolution"), complaints_panel,
                         permission=permission, order=45))
