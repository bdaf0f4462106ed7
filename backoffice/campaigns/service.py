"""Campaign use cases, shared by the screens, the CLI and the jobs.

Each validates first (collecting every problem), then does its work in one transaction it
commits. The state machine: draft → submitted → approved → running → closed; a reviewer may send
a submission back to draft with a note. Approval needs ``can_approve`` on ``Campaign`` (senior
managers) and someone other than the campaign's author.

Launch is set-based: one query counts the candidates and the drops per gate reason, one reads
the ids that pass (with owner, branch and consents), the control split is a hash per customer
(``stats.in_control``), targets are inserted in batches, and the follow-up tasks for the phone
channel (task type ``campaign``) and the send ledger of the SMS, e-mail and WeChat messages
(``backoffice.campaigns.messages``, sent by the job ``jobs.campaigns.send_messages``) are one
``INSERT ... SELECT`` each.

A customer an automation rule adds to a running campaign (:func:`add_target`) goes through the
same gate, channel choice, control split and task or message statements, one target at a time.
Their window for conversions opens when they were added (:func:`window_opens`), for both groups
alike, so the evaluation counts them with the launch's targets without crediting the campaign
with purchases made before they joined.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    DateTime,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from backoffice import events
from backoffice.campaigns import gate, stats
from backoffice.errors import WriteRefused
from backoffice.extensions import db
from backoffice.notifications.sources import campaign_waiting
from backoffice.segments import rules as r
from backoffice.suitability import validity_days
from models import (
    Account,
    Campaign,
    CampaignMessage,
    CampaignTarget,
    Customer,
    FollowUp,
    Product,
    SegmentMembership,
    Transaction,
)
from models.base import utcnow
from models.campaigns import CONSENT_COLUMNS, MESSAGE_CHANNELS
from models.choices import TIERS
from models.validators import MONEY_LIMIT, ordinary_number

PERMISSION_VIEW = "Campaign"
INSERT_BATCH = 5000
TRANSITIONS = {"submit": ("draft", "submitted"), "approve": ("submitted", "approved"),
               "reject": ("submitted", "draft"), "launch": ("approved", "running"),
               "close": ("running", "closed")}


CAMPAIGN_CLOSED = "campaign.closed"
events.declare(CAMPAIGN_CLOSED, _l("Campaign closed"), "campaign")


class CampaignRefused(WriteRefused):
    """The campaign or the action is not valid; ``errors`` maps fields to messages."""


# --- editing ---------------------------------------------------------------------------------


def clean_campaign(data: dict, fields: dict) -> dict:
    """Typed values of a campaign form, or ``CampaignRefused`` with every problem."""
    errors, clean = {}, {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = _l("A campaign needs a name.")
    clean["name"] = name[:100]
    clean["product_id"] = _int_or_none(data.get("product_id"))
    clean["target_segment_ids"] = [int(v) for v in data.get("target_segment_ids") or []]
    tiers = list(data.get("target_tiers") or [])
    if set(tiers) - set(TIERS):
        errors["target_tiers"] = _l("Unknown tier.")
    clean["target_tiers"] = tiers
    channels = list(data.get("channels") or [])
    if set(channels) - set(CONSENT_COLUMNS):
        errors["channels"] = _l("Unknown channel.")
    clean["channels"] = channels
    try:
        clean["target_rule"] = r.validate(data.get("target_rule") or {"op": "and", "items": []},
                                          fields)
    except r.RuleError as exc:
        errors["target_rule"] = "; ".join(exc.errors)
    clean["start_on"], clean["end_on"] = data.get("start_on"), data.get("end_on")
    if clean["start_on"] and clean["end_on"] and clean["end_on"] < clean["start_on"]:
        errors["end_on"] = _l("The campaign cannot end before it starts.")
    clean["message_template"] = data.get("message_template") or None
    clean["offer"] = (data.get("offer") or "").strip()[:255] or None
    try:
        share = Decimal(str(data.get("control_share") if data.get("control_share")
                            not in (None, "") else "0.1"))
    except InvalidOperation:
        share = Decimal(-1)
    if not Decimal(0) <= share < Decimal("0.9"):
        errors["control_share"] = _l("The control share is a fraction from 0 to 0.9.")
    clean["control_share"] = share
    clean["control_seed"] = _int_or_none(data.get("control_seed")) or 0
    if errors:
        raise CampaignRefused(errors)
    return clean


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def save(campaign: Campaign, clean: dict, actor_id: int | None) -> Campaign:
    if campaign.status not in ("draft",):
        raise CampaignRefused({"_": _l("Only a draft campaign can be edited.")})
    for key, value in clean.items():
        setattr(campaign, key, value)
    if campaign.id is None:
        campaign.created_by_id = actor_id
        db.session.add(campaign)
    db.session.commit()
    return campaign


# --- the state machine -----------------------------------------------------------------------


def readiness_errors(campaign: Campaign) -> dict:
    """What a campaign lacks before it can be submitted."""
    errors = {}
    if campaign.product_id is None:
        errors["product_id"] = _l("Choose the product the campaign offers.")
    if not campaign.channels:
        errors["channels"] = _l("Choose at least one channel.")
    if not campaign.start_on or not campaign.end_on:
        errors["start_on"] = _l("Set the start and end dates.")
    return errors


def review_refusal(campaign: Campaign, actor, may_approve: bool):
    """Why ``actor`` may not approve or send back this campaign (None: they may). The screen
    asks it too, so an approve button is only shown to whom the action would accept."""
    if not may_approve:
        return _l("Only a senior manager approves campaigns.")
    if actor is not None and campaign.created_by_id == actor.id:
        return _l("Someone other than the author must review it.")
    return None


def transition(campaign: Campaign, action: str, actor, note: str | None = None,
               may_approve: bool = False) -> Campaign:
    """Move a campaign one step (``submit``, ``approve``, ``reject``, ``close``)."""
    if action not in TRANSITIONS or action == "launch":
        raise CampaignRefused({"_": _l("Unknown action.")})
    source, target = TRANSITIONS[action]
    if campaign.status != source:
        raise CampaignRefused({"_": _l("The campaign is not in the right state for this.")})
    if action == "submit":
        errors = readiness_errors(campaign)
        if errors:
            raise CampaignRefused(errors)
        campaign.submitted_at = utcnow()
        campaign_waiting(db.session, campaign, actor)  # its approvers are told
    if action in ("approve", "reject"):
        refusal = review_refusal(campaign, actor, may_approve)
        if refusal is not None:
            raise CampaignRefused({"_": refusal})
        if action == "reject" and not (note or "").strip():
            raise CampaignRefused({"review_note": _l("Say why the campaign goes back.")})
        campaign.review_note = (note or "").strip()[:500] or None
        if action == "approve":
            campaign.approved_by_id = actor.id if actor is not None else None
            campaign.approved_at = utcnow()
    if action == "close":
        campaign.closed_at = utcnow()
        events.publish(db.session, CAMPAIGN_CLOSED, entity="campaign", entity_id=campaign.id,
                       occurrence=f"campaign_closed:{campaign.id}:{campaign.closed_at.isoformat()}")
    campaign.status = target
    db.session.commit()
    return campaign


# --- who is targeted -------------------------------------------------------------------------


def candidate_condition(campaign: Campaign, fields: dict, today: dt.date, dialect: str):
    """Active customers in any target segment or tier, matching the campaign's extra filters."""
    parts = [Customer.status == "active"]
    audience = []
    if campaign.target_segment_ids:
        audience.append(exists(select(literal(1)).select_from(SegmentMembership).where(
            SegmentMembership.customer_id == Customer.id,
            SegmentMembership.segment_id.in_(list(campaign.target_segment_ids)))))
    if campaign.target_tiers:
        audience.append(func.coalesce(Customer.tier_override, Customer.tier)
                        .in_(list(campaign.target_tiers)))
    if audience:
        parts.append(or_(*audience))
    if campaign.target_rule and campaign.target_rule.get("items"):
        parts.append(r.compile_rule(campaign.target_rule, fields, today=today, dialect=dialect))
    return and_(*parts)


def gate_counts(session, campaign: Campaign, fields: dict, today: dt.date,
                restrict=None) -> dict:
    """Candidates, drops per reason (a customer may fail several) and how many pass: one query.

    ``restrict``: a further condition on the customers counted (a preview for a user leaves
    out customers whose deep profile the audience tests and the user may not see).
    """
    product = session.get(Product, campaign.product_id)
    dialect = session.get_bind().dialect.name
    conditions = gate.pass_conditions(product.risk_level, campaign.channels, today,
                                      validity_days())
    columns = [func.count(Customer.id)]
    columns += [func.coalesce(func.sum(case((cond, 0), else_=1)), 0)
                for cond in conditions.values()]
    columns.append(func.coalesce(func.sum(case((and_(*conditions.values()), 1), else_=0)), 0))
    query = select(*columns).where(candidate_condition(campaign, fields, today, dialect))
    if restrict is not None:
        query = query.where(restrict)
    row = session.execute(query).one()
    report = {"candidates": int(row[0]), "passed": int(row[-1])}
    report["dropped"] = {reason: int(v) for reason, v in zip(conditions, row[1:-1])}
    report["dropped_total"] = report["candidates"] - report["passed"]
    return report


def min_group() -> int:
    """``CRM_UPLIFT_MIN_GROUP``: the smallest group an uplift verdict is given for."""
    if has_app_context():
        try:
            return max(0, int(current_app.config.get("CRM_UPLIFT_MIN_GROUP",
                                                     stats.DEFAULT_MIN_GROUP)))
        except (TypeError, ValueError):
            return stats.DEFAULT_MIN_GROUP
    return stats.DEFAULT_MIN_GROUP


# Up to this many customers passing the gate, the split is worked out customer by customer
# (the hash the launch uses); above, the expected split is exact enough to warn on.
EXACT_SPLIT_LIMIT = 5000


def planned_split(session, campaign: Campaign, fields: dict, today: dt.date, passed: int,
                  restrict=None) -> dict:
    """``{"target": n, "control": n}`` the launch would make of the customers passing the gate
    (``restrict``: only those the preview may count).

    A small audience is split exactly as the launch will split it (the split is a hash of
    campaign, seed and customer), so "3 customers, all in the control group" is seen before
    launch rather than after.
    """
    share = float(campaign.control_share or 0)
    if passed > EXACT_SPLIT_LIMIT or campaign.id is None:
        control = round(passed * share)
        return {"target": passed - control, "control": control}
    product = session.get(Product, campaign.product_id)
    query = select(Customer.id).where(
        candidate_condition(campaign, fields, today, session.get_bind().dialect.name),
        gate.passes(product.risk_level, campaign.channels, today, validity_days()))
    if restrict is not None:
        query = query.where(restrict)
    control = target = 0
    for pk in session.scalars(query):
        if stats.in_control(campaign.id, campaign.control_seed, pk, share):
            control += 1
        else:
            target += 1
    return {"target": target, "control": control}


def control_warning(split: dict, minimum: int | None = None):
    """What to tell the user before launch when the split leaves too little to compare, or
    None: the control group taking everyone (nobody contacted), or either group below the
    minimum an uplift verdict needs."""
    minimum = min_group() if minimum is None else minimum
    target, control = int(split.get("target", 0)), int(split.get("control", 0))
    total = target + control
    if not total or not control:
        return None
    if not target:
        return _l("The control group would take all %(n)s customers who pass the gate: nobody "
                  "would be contacted. Lower the control share or widen the audience.", n=total)
    if target < minimum or control < minimum:
        return _l("The control group would take %(control)s of the %(n)s customers who pass "
                  "the gate, leaving %(target)s to contact: with fewer than %(minimum)s in a "
                  "group the evaluation can only say \"too few to tell\".",
                  control=control, n=total, target=target, minimum=minimum)
    return None


def launch(campaign_id: int, fields: dict, today: dt.date | None = None) -> dict:
    """Approved → running: gate, split, targets, follow-up tasks. Runs unscoped (a job)."""
    session = db.session
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "approved":
        raise CampaignRefused({"_": _l("Only an approved campaign can be launched.")})
    today = today or utcnow().date()
    product = session.get(Product, campaign.product_id)
    dialect = session.get_bind().dialect.name
    report = gate_counts(session, campaign, fields, today)
    consent_columns = [getattr(Customer, CONSENT_COLUMNS[c]) for c in campaign.channels]
    rows = session.execute(select(Customer.id, Customer.owner_id, Customer.branch_id,
                                  *consent_columns).where(
        candidate_condition(campaign, fields, today, dialect),
        gate.passes(product.risk_level, campaign.channels, today, validity_days()))
        .order_by(Customer.id)).all()
    now = utcnow()
    targets, groups = [], {"target": 0, "control": 0}
    for pk, owner_id, branch_id, *consents in rows:
        row = target_values(campaign, pk, owner_id, branch_id, consents, now)
        groups[row["target_group"]] += 1
        targets.append(row)
    table = CampaignTarget.__table__
    for start in range(0, len(targets), INSERT_BATCH):
        session.execute(insert(table), targets[start:start + INSERT_BATCH])
    report["groups"] = groups
    report["tasks"] = _create_tasks(session, campaign, now)
    report["messages"] = _create_messages(session, campaign, now)
    campaign.gate_report = report
    campaign.status, campaign.launched_at = "running", now
    session.commit()
    return report


def target_values(campaign: Campaign, customer_id: int, owner_id, branch_id, consents,
                  now: dt.datetime) -> dict:
    """One ``campaign_target`` row as the launch writes it, for a customer who passed the
    gate: the first of the campaign's channels the customer consented to (``consents``, in
    the order of ``campaign.channels``), the group by the control split's hash, and who served
    the customer and where, frozen now."""
    channel = next((c for c, ok in zip(campaign.channels or [], consents) if ok), None)
    control = stats.in_control(campaign.id, campaign.control_seed, customer_id,
                               float(campaign.control_share or 0))
    return {"campaign_id": campaign.id, "customer_id": customer_id,
            "target_group": "control" if control else "target", "channel": channel,
            "assignee_id": owner_id, "branch_id": branch_id, "created_at": now}


class NotAdded(Exception):
    """The customer cannot join the campaign's audience; ``reason`` is a lazy translation
    (the automation run log keeps it in no language)."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


def add_target(session, campaign: Campaign | None, customer: Customer,
               now: dt.datetime) -> CampaignTarget:
    """A customer joins a running campaign's audience after launch (an automation rule's
    "add to a campaign" action), and gets what a target of the same group got at launch.

    The same gate (on the local date, as the sender checks it), the same channel choice and
    the same control split (:func:`target_values`); then, for the target group, the same
    follow-up task (phone) or pending send-ledger row (SMS, e-mail, WeChat) the launch writes,
    by the launch's own statements narrowed to this one target. The control group gets
    nothing. The message goes out with the campaign's next sending round
    (``flask crm campaign send`` from cron, or ``jobs.campaigns.send_messages``), which checks
    consent, the gate and quiet hours again.

    Exactly once: a customer already in the audience (at launch or added before) raises
    :class:`NotAdded`, and the unique keys on (campaign, customer) and on the message's
    target hold against a concurrent add. Writes into the caller's transaction, never
    commits. Raises :class:`NotAdded` with the reason when the customer cannot join.
    """
    from backoffice import stored_text
    from backoffice.messaging import quiet

    if campaign is None or campaign.status != "running":
        raise NotAdded(_l("The campaign is not running."))
    today = quiet.to_local(now, quiet.zone(current_app.config)).date()
    if campaign.end_on is not None and campaign.end_on < today:
        raise NotAdded(_l("The campaign has ended."))
    if session.scalar(select(CampaignTarget.id).where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.customer_id == customer.id)):
        raise NotAdded(_l("Already in the campaign's audience."))
    if customer.status != "active":
        raise NotAdded(_l("The customer is not active."))
    product = session.get(Product, campaign.product_id) if campaign.product_id else None
    risk = product.risk_level if product is not None else "R5"
    channels = list(campaign.channels or [])
    conditions = gate.pass_conditions(risk, channels, today, validity_days())
    consent_columns = [getattr(Customer, CONSENT_COLUMNS[c]) for c in channels]
    row = session.execute(select(*[case((cond, True), else_=False)
                                   for cond in conditions.values()], *consent_columns)
                          .where(Customer.id == customer.id)).one()
    failed = [reason for reason, ok in zip(conditions, row[:len(conditions)]) if not ok]
    if failed:
        raise NotAdded(_l("The customer does not pass the campaign's suitability gate: "
                          "%(reasons)s.", reasons=stored_text.joined(
                              "; ", [gate.REASON_LABELS[r] for r in failed])))
    values = target_values(campaign, customer.id, customer.owner_id, customer.branch_id,
                           row[len(conditions):], now)
    target = CampaignTarget(**values)
    session.add(target)
    session.flush()
    _create_tasks(session, campaign, now, target_id=target.id)
    _create_messages(session, campaign, now, target_id=target.id)
    return target


def _create_messages(session, campaign: Campaign, now, target_id: int | None = None) -> int:
    """The send ledger (``backoffice.campaigns.messages``): one pending row per target-group
    customer on a message channel, due from the campaign's first day (local midnight). The
    control group gets none. One ``INSERT ... SELECT`` (``target_id``: for that one target
    only, one added after launch). Returns the campaign's number of messages."""
    from backoffice.messaging import quiet as calendar

    t, m = CampaignTarget.__table__, CampaignMessage.__table__
    due = now
    if campaign.start_on:
        start = dt.datetime.combine(campaign.start_on, dt.time(),
                                    tzinfo=calendar.zone(current_app.config))
        due = max(now, calendar.to_utc_naive(start))
    chosen = select(literal(campaign.id), t.c.id, t.c.customer_id, t.c.channel,
                    literal("pending"), literal(0), literal(due), literal(now)).where(
        t.c.campaign_id == campaign.id, t.c.target_group == "target",
        t.c.channel.in_(MESSAGE_CHANNELS))
    if target_id is not None:
        chosen = chosen.where(t.c.id == target_id)
    session.execute(insert(m).from_select(
        ["campaign_id", "target_id", "customer_id", "channel", "status", "attempts",
         "next_attempt_at", "created_at"], chosen))
    return int(session.scalar(select(func.count()).select_from(m).where(
        m.c.campaign_id == campaign.id)) or 0)


def _create_tasks(session, campaign: Campaign, now, target_id: int | None = None) -> int:
    """Phone targets become follow-up tasks for their RM (one INSERT ... SELECT;
    ``target_id``: for that one target only, one added after launch), due three days after
    the campaign starts; a target added later gets its three days from the day it was added
    rather than a task already overdue. Returns the campaign's number of tasks."""
    t, f = CampaignTarget.__table__, FollowUp.__table__
    which = and_(t.c.campaign_id == campaign.id, t.c.target_group == "target",
                 t.c.channel == "phone")
    if target_id is not None:
        which = and_(which, t.c.id == target_id)
    first = campaign.start_on or now.date()
    if target_id is not None:
        first = max(first, now.date())
    due = dt.datetime.combine(first, dt.time(1)) + dt.timedelta(days=3)
    marker = f"campaign #{campaign.id}"
    # The task's type already reads "Campaign" in each user's language; the title is stored
    # data, so it carries the campaign's own name rather than a word of one language.
    title = campaign.name[:200]
    chosen = select(t.c.customer_id, t.c.assignee_id, literal(title), literal("campaign"),
                    literal(due), literal("open"), literal("campaign"), literal(marker),
                    literal(now)).where(which)
    session.execute(insert(f).from_select(
        ["customer_id", "assignee_id", "title", "task_type", "due_at", "status", "source",
         "notes", "created_at"], chosen))
    task = (select(func.max(f.c.id)).where(f.c.customer_id == t.c.customer_id,
                                           f.c.source == "campaign", f.c.notes == marker)
            .scalar_subquery())
    session.execute(update(t).where(which).values(follow_up_id=task))
    # Counted, not read from the INSERT ... SELECT's rowcount, which psycopg 3 under
    # SQLAlchemy 2.1 reports as -1.
    return int(session.scalar(select(func.count()).select_from(f).where(
        f.c.source == "campaign", f.c.notes == marker)) or 0)


# --- outcomes --------------------------------------------------------------------------------


def added_after_launch(created_at, campaign: Campaign):
    """SQL: the target (its ``created_at`` column) joined after the launch, added by a rule.
    The launch writes its targets' ``created_at`` equal to ``launched_at``."""
    if campaign.launched_at is None:
        return false()
    return created_at > campaign.launched_at


def window_opens(created_at, campaign: Campaign):
    """SQL: when a target's conversion window opens: the campaign's first day, or, for a target
    added after launch once the campaign had started, the moment it was added (in either group:
    the split of the added customers is the same hash, so target and control stay alike)."""
    start = dt.datetime.combine(campaign.start_on, dt.time())
    return case((and_(added_after_launch(created_at, campaign), created_at > start), created_at),
                else_=literal(start, DateTime()))


def opened_in_window(opened_on, created_at, campaign: Campaign):
    """SQL: an account opened on ``opened_on`` counts for the target: from the campaign's first
    day, and for a target added after launch only from the day after it was added (an account
    opened that day may have led to the rule adding them; only the date is known)."""
    return and_(opened_on >= campaign.start_on,
                or_(~added_after_launch(created_at, campaign),
                    opened_on > func.date(created_at)))


def record_outcome(target: CampaignTarget, *, responded: bool, converted: bool,
                   amount=None, source: str = "staff") -> CampaignTarget:
    """A response or conversion reported by staff or an import (the caller checked scope)."""
    errors = {}
    value = None
    if amount not in (None, ""):
        try:
            value = Decimal(str(amount).replace(",", ""))
        except InvalidOperation:
            errors["amount"] = _l("The amount must be a number.")
        else:
            if not value.is_finite():
                errors["amount"] = _l("The amount must be a number.")
            elif not ordinary_number(value) or abs(value) >= MONEY_LIMIT:
                errors["amount"] = _l("The amount is too large.")
            elif value < 0:
                errors["amount"] = _l("The amount cannot be negative.")
    if errors:
        raise CampaignRefused(errors)
    now = utcnow()
    target.responded_at = (target.responded_at or now) if (responded or converted) else None
    target.converted_at = (target.converted_at or now) if converted else None
    target.converted_amount = value if converted else None
    target.outcome_source = source
    if target.target_group == "target" and target.contacted_at is None and responded:
        target.contacted_at = now
    return target


def detect_conversions(campaign_id: int) -> int:
    """Purchases of the campaign product within its window become conversions (both groups):
    money in to an account of the product, or an account of it opened in the window. A
    target added after launch has its window from when it was added (:func:`window_opens`)."""
    session = db.session
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.product_id is None or not campaign.start_on:
        return 0
    end = dt.datetime.combine((campaign.end_on or utcnow().date()) + dt.timedelta(days=1),
                              dt.time())
    t = CampaignTarget.__table__
    start = window_opens(t.c.created_at, campaign)
    tx = Transaction.__table__
    acc = Account.__table__
    bought = tx.join(acc, acc.c.id == tx.c.account_id)
    in_window = and_(tx.c.customer_id == t.c.customer_id,
                     acc.c.product_id == campaign.product_id, tx.c.direction == "in",
                     tx.c.occurred_at >= start, tx.c.occurred_at < end)
    purchases = select(func.min(tx.c.occurred_at)).select_from(bought).where(in_window)
    amount = select(func.sum(tx.c.amount)).select_from(bought).where(in_window)
    opened = select(literal(1)).select_from(acc).where(
        acc.c.customer_id == t.c.customer_id, acc.c.product_id == campaign.product_id,
        opened_in_window(acc.c.opened_on, t.c.created_at, campaign),
        acc.c.opened_on <= (campaign.end_on or utcnow().date()))
    found = or_(exists(select(literal(1)).select_from(bought).where(in_window)),
                exists(opened))
    first_open = (select(func.min(acc.c.opened_on)).where(
        acc.c.customer_id == t.c.customer_id, acc.c.product_id == campaign.product_id,
        opened_in_window(acc.c.opened_on, t.c.created_at, campaign)).scalar_subquery())
    result = session.execute(
        update(t).where(t.c.campaign_id == campaign.id, t.c.converted_at.is_(None), found)
        .values(converted_at=func.coalesce(purchases.scalar_subquery(), first_open),
                responded_at=func.coalesce(t.c.responded_at,
                                           purchases.scalar_subquery(), first_open),
                converted_amount=func.coalesce(amount.scalar_subquery(), 0),
                outcome_source="transaction"))
    session.commit()
    return int(result.rowcount or 0)
