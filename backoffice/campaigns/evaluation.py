"""Effect evaluation (效果评估): reach, response, conversion and uplift over the control group.

Figures come from grouped queries over ``campaign_target`` through the ORM, so the record scope
applies: a relationship manager sees the figures of their own customers, a branch manager their
branch's, a senior manager the whole campaign (``flask crm campaign evaluate`` runs unscoped).

Definitions (target group unless said otherwise):

* reach: targets contacted (their follow-up task done, or their message sent through the
  channel: ``backoffice.campaigns.messages`` sets ``contacted_at`` when it goes out);
* response rate: targets who responded / targets;
* conversion rate: converted / group size, for both groups;
* converted amount: sum of converted amounts of the target group;
* new customers acquired: converted targets who held no account of the product before the
  campaign started (new to the product; everyone targeted is already a customer of the bank);
* uplift: target conversion rate − control conversion rate, with Newcombe's hybrid score 95%
  interval (``stats.uplift``); below ``CRM_UPLIFT_MIN_GROUP`` customers in a group it reads
  "too few to tell" rather than a verdict.

Targets an automation rule added after launch (``created_at`` after ``launched_at``,
``service.add_target``) are counted, in their group, like the launch's: they went through the
same gate and the same control split (a hash per customer, so the added control customers are
as comparable as the launch's), and the target group got the same message or task. Their
window opens when they were added (``service.window_opens``): a purchase before that is no
conversion, and an account of the product held by then makes them not new to it. Both groups
are treated alike, so the uplift stays a like-for-like comparison.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import pgettext
from sqlalchemy import and_, case, exists, func, literal, or_, select

from backoffice.campaigns import stats
from models import Account, Branch, Campaign, CampaignTarget, FollowUp, Staff


@dataclass
class GroupFigures:
    size: int = 0
    contacted: int = 0
    responded: int = 0
    converted: int = 0
    amount: Decimal = Decimal(0)
    new_customers: int = 0


@dataclass
class Line:
    """One row of a breakdown (overall, a branch, an RM)."""

    key: object
    label: str
    target: GroupFigures
    control: GroupFigures

    @property
    def reach(self):
        return stats.rate(self.target.contacted, self.target.size)

    @property
    def response_rate(self):
        return stats.rate(self.target.responded, self.target.size)

    @property
    def conversion_rate(self):
        return stats.rate(self.target.converted, self.target.size)

    @property
    def control_conversion_rate(self):
        return stats.rate(self.control.converted, self.control.size)

    @property
    def uplift(self):
        return stats.uplift(self.target.converted, self.target.size, self.control.converted,
                            self.control.size, min_group=_min_group())

    def as_dict(self) -> dict:
        up = self.uplift
        return {"label": self.label, "target": vars(self.target), "control": vars(self.control),
                "reach": self.reach, "response_rate": self.response_rate,
                "conversion_rate": self.conversion_rate,
                "control_conversion_rate": self.control_conversion_rate,
                "uplift": None if up is None else {
                    "difference": up.difference, "ci_low": up.low, "ci_high": up.high,
                    "method": "newcombe_hybrid_score", "rough": up.rough,
                    "too_few": up.too_few}}


@dataclass
class Report:
    overall: Line
    by_branch: list[Line] = field(default_factory=list)
    by_rm: list[Line] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(),
                "by_branch": [line.as_dict() for line in self.by_branch],
                "by_rm": [line.as_dict() for line in self.by_rm]}


def _figures(session, campaign: Campaign, key_column=None):
    from backoffice.campaigns.service import added_after_launch

    t = CampaignTarget
    start = campaign.start_on or dt.date.max
    task_done = exists(select(literal(1)).select_from(FollowUp).where(
        FollowUp.id == t.follow_up_id, FollowUp.status == "done"))
    held_before = exists(select(literal(1)).select_from(Account).where(
        Account.customer_id == t.customer_id, Account.product_id == campaign.product_id,
        or_(Account.opened_on < start,
            and_(added_after_launch(t.created_at, campaign),
                 Account.opened_on <= func.date(t.created_at)))))
    contacted = or_(t.contacted_at.is_not(None), task_done)
    columns = [
        t.target_group, func.count(t.id),
        func.sum(case((contacted, 1), else_=0)),
        func.sum(case((t.responded_at.is_not(None), 1), else_=0)),
        func.sum(case((t.converted_at.is_not(None), 1), else_=0)),
        func.coalesce(func.sum(case((t.converted_at.is_not(None), t.converted_amount),
                                    else_=0)), 0),
        func.sum(case((and_(t.converted_at.is_not(None), ~held_before), 1), else_=0)),
    ]
    group_by = [t.target_group]
    if key_column is not None:
        columns.insert(0, key_column)
        group_by.insert(0, key_column)
    query = select(*columns).where(t.campaign_id == campaign.id).group_by(*group_by)
    return session.execute(query).all()


def _fill(figures: GroupFigures, row) -> None:
    figures.size, figures.contacted, figures.responded, figures.converted = (
        int(row[0]), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))
    figures.amount = Decimal(str(row[4] or 0)).quantize(Decimal("0.01"))
    figures.new_customers = int(row[5] or 0)


def _lines(rows, labels) -> list[Line]:
    lines: dict = {}
    for key, group, *values in rows:
        line = lines.setdefault(key, Line(key, labels.get(key, _("(none)")), GroupFigures(),
                                          GroupFigures()))
        _fill(line.target if group == "target" else line.control, values)
    return sorted(lines.values(), key=lambda line: str(line.label))


def evaluate(session, campaign: Campaign) -> Report:
    overall = Line(None, _("All targets"), GroupFigures(), GroupFigures())
    for group, *values in _figures(session, campaign):
        _fill(overall.target if group == "target" else overall.control, values)
    branch_rows = _figures(session, campaign, CampaignTarget.branch_id)
    rm_rows = _figures(session, campaign, CampaignTarget.assignee_id)
    branches = dict(session.execute(select(Branch.id, Branch.name).where(
        Branch.id.in_({row[0] for row in branch_rows if row[0] is not None}))).all())
    staff = {s.id: repr(s) for s in session.scalars(select(Staff).where(
        Staff.id.in_({row[0] for row in rm_rows if row[0] is not None})))}
    return Report(overall, _lines(branch_rows, branches), _lines(rm_rows, staff))


def _min_group() -> int:
    from backoffice.campaigns.service import min_group

    return min_group()


def interval_text(up) -> str:
    """The uplift as the CLI prints it: the difference and its interval in percentage points,
    or "too few to tell" when a group is below the minimum."""
    if up is None:
        return "—"
    if up.too_few:
        return _("too few to tell") + f" ({up.difference * 100:+.2f} pp)"
    return (f"{up.difference * 100:+.2f} pp [{up.low * 100:+.2f}, {up.high * 100:+.2f}]"
            + (" *" if up.rough else ""))


def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


# The CLI table's columns: (width, header). The headers are gettext calls of their own, not
# inside f-strings, where message extraction cannot see them (they stayed English).
def _columns():
    return ((8, _("Targets")), (7, _("Reach")), (8, _("Response")), (10, _("Conversion")),
            (8, _("Control")), (10, _("Control conversion")), (14, _("Amount")),
            (5, pgettext("new customers", "New")))


LABEL_WIDTH = 24


def _width(text: str) -> int:
    """Columns the text takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _cut(text: str, width: int) -> str:
    out = ""
    for ch in text:
        if _width(out + ch) > width:
            break
        out += ch
    return out


def _left(text, width: int) -> str:
    text = _cut(str(text), width)
    return text + " " * (width - _width(text))


def _right(text, width: int) -> str:
    text = str(text)
    return " " * max(0, width - _width(text)) + text


def as_text(campaign: Campaign, report: Report) -> str:
    """The evaluation as the CLI prints it."""
    lines = [f"{_('Campaign')} #{campaign.id} {campaign.name} ({campaign.status})"]
    columns = _columns()
    lines.append(" ".join([_left("", LABEL_WIDTH), *[_right(title, width)
                                                      for width, title in columns]])
                 + "  " + _("Uplift (95% CI)"))
    for section, rows in ((None, [report.overall]), (_("By branch"), report.by_branch),
                          (_("By relationship manager"), report.by_rm)):
        if section:
            lines.append(f"-- {section}")
        for line in rows:
            cells = (line.target.size, percent(line.reach), percent(line.response_rate),
                     percent(line.conversion_rate), line.control.size,
                     percent(line.control_conversion_rate), f"{line.target.amount:,.2f}",
                     line.target.new_customers)
            lines.append(" ".join([_left(line.label, LABEL_WIDTH),
                                   *[_right(cell, width)
                                     for (width, _title), cell in zip(columns, cells)]])
                         + "  " + interval_text(line.uplift))
    lines.append(_("Uplift: difference of conversion rates, target minus control, in "
                   "percentage points; 95%% interval by Newcombe's hybrid score method (Wilson "
                   "per group), within ±100 pp. * fewer than 5 conversions or non-conversions "
                   "in a group: indicative only. Too few to tell: a group has fewer than "
                   "%(minimum)s customers.", minimum=_min_group()))
    return "\n".join(lines)
