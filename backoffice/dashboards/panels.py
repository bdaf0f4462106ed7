"""The built-in home panels: the book by tier, new and lost customers, interactions by channel,
open and overdue tasks, money in and out; each chart point opens the list it counts.

Every figure comes from ``dashboard_summary`` through ``figures`` (scoped, a few hundred rows at
most), so a home page costs the same at a thousand customers and at a million. A panel with
nothing to draw says why and what to do next (``backoffice.dashboards.empty``), never an empty
chart or a row of zeros.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice import charts
from backoffice.dashboards.empty import empty_state, link_if_allowed, not_computed_state
from backoffice.dashboards.figures import figures
from backoffice.dashboards.links import list_url
from backoffice.dashboards.registry import Panel, register_panel
from backoffice.extensions import db
from config.roles import DASHBOARD_PANELS
from models.base import utcnow
from models.choices import INTERACTION_CHANNELS, TIERS


def _label(mapping, code):
    return str(mapping.get(code, code or _("Unassigned")))


def tier_panel():
    result = figures(db.session, "customers_by_tier", tier_amounts=True)
    if result.empty:
        return not_computed_state(db.session) or empty_state(
            _("No customers in your book yet: customers assigned to you, or to your branch, "
              "appear here."), _("Open the customer list"), link_if_allowed("CustomerView"))
    if set(result.counts) == {""}:  # customers, but the tier rules never ran on them
        return empty_state(
            _("%(n)s customers have no tier yet: run the tier and segment refresh.",
              n=result.counts[""]), _("Tiers and segments"), link_if_allowed("SegmentsView",
                                                                              "index"))
    codes = [code for code in (*TIERS, "") if code in result.counts]
    codes += [code for code in result.counts if code not in codes]
    labels = [_label(TIERS, code) for code in codes]
    links = [list_url("CustomerView", ("tier", "eq", code)) if code else None for code in codes]
    series = {_("Customers"): [result.counts[c] for c in codes]}
    figure = charts.bar_groups(labels, series, links=links, title=_("Customers by tier"))
    amounts = [result.amounts.get(c) for c in codes]
    table = [{"label": label, "count": result.counts[c], "amount": amount}
             for label, c, amount in zip(labels, codes, amounts)]
    return {"figure": figure, "table": table, "refreshed_at": result.refreshed_at,
            "amount_title": _("Total financial assets (CNY)")}


def _month_bounds(month: str) -> tuple[str, str]:
    year, number = (int(part) for part in month.split("-"))
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return (first - dt.timedelta(days=1)).isoformat(), following.isoformat()


def movement_panel():
    new, lost = (figures(db.session, name) for name in ("new_customers", "lost_customers"))
    months = sorted(set(new.counts) | set(lost.counts))
    if not months:
        return not_computed_state(db.session) or empty_state(
            _("No customer of your book joined or left in the last twelve months."),
            _("Open the customer list"), link_if_allowed("CustomerView"))
    links = []
    for month in months:
        after, before = _month_bounds(month)
        links.append(list_url("CustomerView", ("onboarded_on", "gt", after),
                              ("onboarded_on", "lt", before)))
    figure = charts.line(months, {_("New customers"): [new.counts.get(m, 0) for m in months],
                                  _("Lost customers"): [lost.counts.get(m, 0) for m in months]},
                         links=links, title=_("New and lost customers per month"))
    figure["layout"]["xaxis"] = {"type": "category"}  # "2026-05" is a month, not a date
    return {"figure": figure, "refreshed_at": new.refreshed_at or lost.refreshed_at}


def channel_panel():
    result = figures(db.session, "interactions_by_channel")
    if result.empty:
        return not_computed_state(db.session) or empty_state(
            _("No interaction recorded with your customers in the last twelve months: record "
              "calls, visits and messages from a customer's page."),
            _("Record an interaction"), link_if_allowed("InteractionView", "add"))
    codes = sorted(result.counts, key=lambda code: -result.counts[code])
    links = [list_url("InteractionView", ("channel", "eq", code)) for code in codes]
    figure = charts.pie([_label(INTERACTION_CHANNELS, c) for c in codes],
                        [result.counts[c] for c in codes], links=links,
                        title=_("Interactions by channel (12 months)"))
    return {"figure": figure, "refreshed_at": result.refreshed_at}


def task_panel():
    result = figures(db.session, "open_tasks")
    if not any(result.counts.values()):
        return not_computed_state(db.session) or empty_state(
            _("No open follow-up tasks: nothing is waiting or overdue."),
            _("Add a follow-up task"), link_if_allowed("FollowUpView", "add"))
    stamp = (result.refreshed_at or utcnow()).strftime("%Y-%m-%d %H:%M:%S")
    states = [("overdue", _("Overdue"), "lt"), ("open", _("Open, not yet due"), "gt")]
    links = [list_url("FollowUpView", ("status", "eq", "open"), ("due_at", op, stamp))
             for _state, _title, op in states]
    figure = charts.bar([title for _state, title, _op in states],
                        [result.counts.get(state, 0) for state, _title, _op in states],
                        links=links, title=_("Open and overdue tasks"))
    return {"figure": figure, "refreshed_at": result.refreshed_at}


def flow_panel():
    result = figures(db.session, "transaction_flow")
    if result.empty:
        return not_computed_state(db.session) or empty_state(
            _("No transactions of your customers in the last twelve months: they appear once "
              "accounts and transactions are imported."),
            _("Open the transaction list"), link_if_allowed("TransactionView"))
    if all(not v for v in result.amounts.values()):  # amounts withheld, or all zero
        return None
    months = sorted({dim.split(":")[0] for dim in result.counts})
    series = {}
    for direction, title in (("in", _("Money in")), ("out", _("Money out"))):
        series[title] = [result.amounts.get(f"{m}:{direction}") or 0 for m in months]
    links = [list_url("TransactionView", ("occurred_at", "gt", _month_bounds(m)[0]),
                      ("occurred_at", "lt", _month_bounds(m)[1])) for m in months]
    figure = charts.bar_groups(months, series, links=links,
                               title=_("Money in and out per month (CNY)"))
    figure["layout"]["xaxis"] = {"type": "category"}
    return {"figure": figure, "refreshed_at": result.refreshed_at}


def install() -> None:
    for key, title, build, order in (
            ("tiers", _l("Customers and assets by tier"), tier_panel, 10),
            ("tasks", _l("Open and overdue tasks"), task_panel, 20),
            ("movement", _l("New and lost customers"), movement_panel, 30),
            ("channels", _l("Interactions by channel"), channel_panel, 40),
            ("flow", _l("Money in and out"), flow_panel, 50)):
        [permission] = DASHBOARD_PANELS[key]
        register_panel(Panel(key, title, build, permission=permission, order=order))
    from backoffice.dashboards import operations

    operations.install()
