"""Running rules: who matches (set-based), and acting on each match exactly once.

Matching is one SQL query per run: the rule's conditions are the segment rule builder's rule,
compiled to one condition on the customer (``backoffice.segments.rules``), joined to the
records of the trigger's type, narrowed to the rule's branch. The dry run is the same query,
so what it lists is what the first real run acts on.

Acting is per record, in one transaction (or, inside an event handler, one savepoint of the
handler's transaction): the actions' writes, the ``automation_fire`` row keyed (rule, record,
occurrence) and the run-log item commit together. A killed worker loses the record it was
working on, and the re-run finds the fired records and acts on the rest. Rate limits (per run,
per hour) and everything an action refuses are logged as skipped, with the reason.
"""
from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, func, literal, or_, select, true

from backoffice import stored_text
from backoffice.automation import actions
from backoffice.automation.catalog import CUSTOMER_MESSAGING, RECORD_TYPES
from backoffice.security import scopes
from models import CampaignTarget, Customer
from models.automation import AutomationFire, AutomationRule, AutomationRun, AutomationRunItem
from models.base import utcnow

log = logging.getLogger(__name__)
SAMPLE = 20
MATCH_BATCH = 1000


@dataclass(frozen=True)
class Match:
    customer_id: int
    entity: str
    entity_id: int


def messages_customers(rule: AutomationRule) -> bool:
    return any(a.get("kind") in CUSTOMER_MESSAGING for a in rule.actions or [])


def may_run(rule: AutomationRule) -> bool:
    """Switched on, and approved by a second person if it messages customers."""
    return bool(rule.enabled) and (not messages_customers(rule) or rule.approval == "approved")


# --- who matches --------------------------------------------------------------------------------


def condition(session, rule: AutomationRule, today: dt.date):
    """The rule's conditions and branch as one SQL condition on ``customer``."""
    from backoffice.segments import rules as r
    from backoffice.segments.catalog import rule_fields

    parts = []
    if rule.conditions and rule.conditions.get("items"):
        fields = rule_fields(session=session)
        parts.append(r.compile_rule(rule.conditions, fields, today=today,
                                    dialect=session.get_bind().dialect.name))
    if rule.branch_id is not None:
        parts.append(Customer.branch_id == rule.branch_id)
    return and_(true(), *parts)


def audience(session, rule: AutomationRule, *, today: dt.date, event=None):
    """SELECT (customer_id, entity, entity_id) of the records the rule acts on, by id.

    Without an event (a schedule, a manual run, a dry run) record rules list the records of
    their type and event rules the customers; with an event, only what the event is about.
    """
    where = condition(session, rule, today)
    if rule.trigger_kind == "record" and rule.trigger_entity in RECORD_TYPES \
            and rule.trigger_entity != "customer":
        record = RECORD_TYPES[rule.trigger_entity]
        owner = record.customer_column()
        query = (select(owner.label("customer_id"), literal(record.code).label("entity"),
                        record.model.id.label("entity_id"))
                 .join(Customer, Customer.id == owner).where(where)
                 .order_by(record.model.id))
        if event is not None:
            query = query.where(record.model.id == event.entity_id)
        return query
    customers = select(Customer.id.label("customer_id"), literal("customer").label("entity"),
                       Customer.id.label("entity_id")).where(where).order_by(Customer.id)
    if event is None:
        return customers.where(Customer.status == "active") \
            if rule.trigger_kind == "schedule" else customers
    if event.customer_id is not None:
        return select(Customer.id.label("customer_id"), literal(event.entity).label("entity"),
                      literal(event.entity_id).label("entity_id")).where(
            where, Customer.id == event.customer_id)
    if event.entity == "campaign":  # a campaign event is about its target group
        return customers.join(CampaignTarget, CampaignTarget.customer_id == Customer.id).where(
            CampaignTarget.campaign_id == event.entity_id,
            CampaignTarget.target_group == "target")
    return customers.where(false())


def matches(session, rule: AutomationRule, *, today: dt.date, event=None) -> list[Match]:
    """Every record the rule would act on now (unrestricted: a rule acts bank-wide or on its
    branch, not on what its author may see)."""
    with scopes.as_scope(scopes.UNRESTRICTED):
        rows = session.execute(audience(session, rule, today=today, event=event),
                               execution_options={"crm_unscoped": True}).all()
    return [Match(int(c), str(e), int(i)) for c, e, i in rows]


def dry_run(session, rule: AutomationRule, *, today: dt.date | None = None):
    """(count, first records) the viewer may see of what the rule would act on now.

    Runs under the session's scope (the request's user): a branch manager counts their
    branch, an administrator (no customer scope) sees nothing, and a rule testing the deep
    profile counts only customers whose deep profile the viewer may see (``segments.guard``).
    """
    from backoffice.segments import guard
    from backoffice.segments.catalog import rule_fields

    today = today or utcnow().date()
    query = audience(session, rule, today=today)
    restricted = guard.condition([rule.conditions], rule_fields(session=session)) \
        if rule.conditions else None
    if restricted is not None:
        query = query.where(restricted)
    sub = query.subquery()
    total = session.scalar(select(func.count()).select_from(sub))
    first = session.execute(
        select(sub.c.customer_id, sub.c.entity, sub.c.entity_id, Customer.customer_no,
               Customer.name).join(Customer, Customer.id == sub.c.customer_id)
        .order_by(sub.c.entity_id).limit(SAMPLE)).all()
    return int(total or 0), first


# --- acting -------------------------------------------------------------------------------------


def start_run(session, rule: AutomationRule, trigger: str, occurrence: str | None, *,
              started_by_id=None, job_run_id=None) -> AutomationRun:
    run = AutomationRun(rule_id=rule.id, trigger=trigger, occurrence=occurrence,
                        status="running", started_by_id=started_by_id, job_run_id=job_run_id,
                        started_at=utcnow())
    session.add(run)
    session.flush()
    return run


def act(session, rule: AutomationRule, run: AutomationRun, found: list[Match], occurrence: str,
        *, commit: bool, data: dict | None = None, now: dt.datetime | None = None) -> dict:
    """Act on each match once; ``commit`` per record (jobs) or savepoints (event handlers)."""
    now = now or utcnow()
    limiter = _Limiter(session, rule, now)
    for match in found:
        run.matched += 1
        outcome, reason = _one(session, rule, run, match, occurrence, limiter, commit, data, now)
        setattr(run, outcome, getattr(run, outcome) + 1)
        if commit:
            session.commit()
    run.status, run.finished_at = "finished", utcnow()
    rule.last_run_at = run.finished_at
    return {"matched": run.matched, "acted": run.acted, "skipped": run.skipped,
            "failed": run.failed}


def _one(session, rule, run, match: Match, occurrence, limiter, commit, data, now):
    done = session.scalar(select(AutomationFire.id).where(
        AutomationFire.rule_id == rule.id, AutomationFire.entity == match.entity,
        AutomationFire.entity_id == match.entity_id, AutomationFire.occurrence == occurrence))
    if done:
        return _item(session, run, match, "skipped",
                     _l("Already acted on for this occurrence."))
    refusal = limiter.refusal()
    if refusal is not None:
        return _item(session, run, match, "skipped", refusal)
    savepoint = session.begin_nested()
    try:
        customer = session.get(Customer, match.customer_id)
        target = actions.Target(rule, customer, match.entity, match.entity_id, occurrence, now,
                                data or {})
        previous = session.info.get("crm_rule_id")
        session.info["crm_rule_id"] = rule.id  # its own changes do not trigger it again
        try:
            count = actions.apply(session, target)
        finally:
            session.info["crm_rule_id"] = previous
        session.add(AutomationFire(rule_id=rule.id, entity=match.entity,
                                   entity_id=match.entity_id, occurrence=occurrence,
                                   customer_id=match.customer_id, actions=count, fired_at=now))
        session.flush()
        savepoint.commit()
    except actions.Skip as exc:
        savepoint.rollback()
        return _item(session, run, match, "skipped", exc.reason)
    except Exception:  # noqa: BLE001 - the record fails, the run goes on
        savepoint.rollback()
        log.warning("rule %s failed on %s %s", rule.id, match.entity, match.entity_id,
                    exc_info=True)
        return _item(session, run, match, "failed", traceback.format_exc(limit=3)[-2000:])
    limiter.acted += 1
    return _item(session, run, match, "acted", None)


def _item(session, run, match: Match, outcome: str, reason):
    session.add(AutomationRunItem(run_id=run.id, customer_id=match.customer_id,
                                  entity=match.entity, entity_id=match.entity_id,
                                  outcome=outcome, reason=stored_text.keep(reason)
                                  if reason is not None and not isinstance(reason, str)
                                  else reason))
    return outcome, reason


class _Limiter:
    """The rule's rate limits: actions per run, and per hour (counted from the ledger)."""

    def __init__(self, session, rule, now):
        self.rule, self.acted = rule, 0
        self.hour = 0
        if rule.max_per_hour:
            self.hour = session.scalar(select(func.count()).select_from(AutomationFire).where(
                AutomationFire.rule_id == rule.id,
                AutomationFire.fired_at > now - dt.timedelta(hours=1))) or 0

    def refusal(self):
        if self.rule.max_per_run and self.acted >= self.rule.max_per_run:
            return _l("Rate limit: at most %(n)s records per run.", n=self.rule.max_per_run)
        if self.rule.max_per_hour and self.hour + self.acted >= self.rule.max_per_hour:
            return _l("Rate limit: at most %(n)s records per hour.", n=self.rule.max_per_hour)
        return None


# --- entry points -------------------------------------------------------------------------------


def run_rule(session, rule_id: int, *, trigger: str = "manual", occurrence: str | None = None,
             started_by_id=None, job_run_id=None, today: dt.date | None = None,
             progress=None) -> dict:
    """A scheduled or manual run over the rule's whole audience, committing per record."""
    rule = session.get(AutomationRule, rule_id)
    if rule is None:
        raise LookupError(f"no automation rule {rule_id}")
    now = utcnow()
    today = today or now.date()
    occurrence = occurrence or f"{trigger}:{now.isoformat(timespec='seconds')}"
    run = start_run(session, rule, trigger, occurrence, started_by_id=started_by_id,
                    job_run_id=job_run_id)
    if not may_run(rule):
        run.status, run.finished_at = "refused", utcnow()
        run.error = stored_text.keep(_l("The rule is off or waits for approval."))
        session.commit()
        return {"refused": True}
    session.commit()
    found = matches(session, rule, today=today)
    if progress is not None:
        progress.update(0, total=len(found), message=_l("Acting on the matched records"))
    summary = {}
    for start in range(0, len(found), MATCH_BATCH):
        summary = act(session, rule, run, found[start:start + MATCH_BATCH], occurrence,
                      commit=True, now=now)
        run.status = "running"
        session.commit()
        if progress is not None:
            progress.update(min(len(found), start + MATCH_BATCH))
    run.status, run.finished_at = "finished", utcnow()
    rule.last_run_at = run.finished_at
    session.commit()
    return summary or {"matched": 0, "acted": 0, "skipped": 0, "failed": 0}


def record_change_applies(rule: AutomationRule, event) -> bool:
    """Whether a record event is the change the rule waits for (entity, created/changed,
    field changed, from/to values)."""
    if rule.trigger_entity != event.entity:
        return False
    kind = "created" if event.name.endswith("created") else "changed"
    if (rule.trigger_on or "changed") != kind:
        return False
    if (event.data or {}).get("rule_id") == rule.id:
        return False
    if not rule.trigger_field:
        return True
    changed = (event.data or {}).get("changed") or {}
    if rule.trigger_field not in changed:
        return False
    pair = changed[rule.trigger_field]
    if pair is None:  # a sensitive field: it changed, its values are not known
        return not (rule.trigger_from or rule.trigger_to)
    old, new = pair
    return (_same(rule.trigger_from, old) if rule.trigger_from not in (None, "") else True) \
        and (_same(rule.trigger_to, new) if rule.trigger_to not in (None, "") else True)


def _same(expected: str, value) -> bool:
    if isinstance(value, bool) or value is None:
        return str(expected).lower() == str(value).lower()
    try:
        from decimal import Decimal

        return Decimal(str(expected)) == Decimal(str(value))
    except Exception:  # noqa: BLE001 - not numbers: compare as text
        return str(expected) == str(value)


def rules_for_event(session, event) -> list[AutomationRule]:
    """Enabled rules the event triggers that were on when it occurred: a rule switched on
    today does not act on older events other consumers left in the outbox."""
    since = AutomationRule.enabled_since
    query = select(AutomationRule).where(
        AutomationRule.enabled.is_(True),
        or_(since.is_(None), since <= event.created_at))
    if event.name.startswith("record."):
        query = query.where(AutomationRule.trigger_kind == "record",
                            AutomationRule.trigger_entity == event.entity)
    else:
        query = query.where(AutomationRule.trigger_kind == "event",
                            AutomationRule.trigger_event == event.name)
    return list(session.scalars(query.order_by(AutomationRule.id)))


def handle_event(session, event) -> None:
    """The outbox consumer: every enabled rule the event triggers, in the handler's
    transaction (savepoints per record; the dispatcher commits)."""
    for rule in rules_for_event(session, event):
        if not may_run(rule):
            continue
        if event.name.startswith("record.") and not record_change_applies(rule, event):
            continue
        if rule.branch_id is not None and event.branch_id not in (None, rule.branch_id):
            continue
        occurrence = f"event:{event.id}"
        found = matches(session, rule, today=utcnow().date(), event=event)
        if not found:
            continue
        run = start_run(session, rule, "event", occurrence)
        act(session, rule, run, found, occurrence, commit=False, data=event.data)


def wanted_names(session) -> set[str]:
    """Event names enabled rules listen to (``record.*`` when any record rule is on)."""
    table = AutomationRule.__table__
    rows = session.connection().execute(
        select(table.c.trigger_kind, table.c.trigger_on, table.c.trigger_event)
        .where(table.c.enabled.is_(True)).distinct()).all()
    names = set()
    for kind, on, name in rows:
        if kind == "record":
            names.add("record.created" if on == "created" else "record.changed")
        elif kind == "event" and name:
            names.add(name)
    return names
