"""The set-based refresh of tiers, segment memberships, needs and daily counts.

A fixed number of statements whatever the number of customers, no customer loaded into Python,
and the transactions read once:

1. one ``CREATE TABLE AS`` (``INSERT ... SELECT`` on SQLite) fills a temporary staging table
   from ONE scan of the customers LEFT JOINed to one ``GROUP BY customer_id`` pass per metric
   source (every transaction metric in one pass over the transactions, and so on; a pass reads
   only the window its metrics need, ``metrics.pass_window``). Per customer
   it holds the tier now stored (``old_tier``), the new tier (the tier rules as one ``CASE``,
   first match wins) and one boolean per segment and need detector (``seg_<id>``: does its rule
   match), all computed from the metrics of that one row;
2. tier changes are read from the staging table alone: history rows for the customers whose
   tier moves, then an ``UPDATE`` of just those customers (a nightly refresh touches a few
   rows, not the customer table);
3. per segment and need detector, memberships are written as a diff: delete the rule rows
   whose customer no longer matches, insert the missing ones (``since`` is kept for customers
   who stay); both are anti-joins on primary keys, so an unchanged membership writes nothing.
   Pinned rows (``source`` 'added': an automation rule added the customer) are never deleted
   and never duplicated; only their ``matched`` flag follows the rule;
4. today's counts (one scan of the staging table, one grouped read of the few pinned rows) go
   to ``segment_count`` and the rule rows (rewritten if the refresh runs twice a day). A
   segment's members are the customers its rule matches together with those pinned to it,
   each once: members = matched + pinned that the rule does not match.

Evaluating every rule on the one staged row is why the refresh does not run each rule's own
correlated query: ten rules over AUM would compute AUM ten times per customer.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import CompileError

from backoffice.segments import rules as r
from backoffice.segments import tier_events
from models import Segment, SegmentCount, SegmentMembership, TierChange
from models.segments import PINNED
from models.base import utcnow
from models.customers import Customer

FALLBACK_TIER = "mass"


def active_rules(session, kind):
    query = select(Segment).where(Segment.kind == kind, Segment.active.is_(True))
    if kind == "tier":
        query = query.order_by(Segment.priority, Segment.id)
    else:
        query = query.order_by(Segment.id)
    return list(session.scalars(query))


def tier_case(tier_rules, fields, *, today, dialect, metric_source=None):
    """The tier of a customer row: the first tier rule whose rule matches (else mass)."""
    whens = [(r.compile_rule(rule.rule or {"op": "and", "items": []}, fields, today=today,
                             dialect=dialect, metric_source=metric_source), rule.tier)
             for rule in tier_rules]
    if not whens:
        return literal(FALLBACK_TIER)
    return case(*whens, else_=FALLBACK_TIER)


def refresh_all(session, fields, *, today: dt.date, progress=None) -> dict:
    """Run the whole refresh in the caller's transaction; returns counts for the job result."""
    dialect = session.get_bind().dialect.name
    now = utcnow()
    tiers, segments = active_rules(session, "tier"), active_rules(session, "segment")
    members = segments + active_rules(session, "need")
    used = set()
    for rule in tiers + members:
        used |= {k for k in r.fields_used(r.validate(rule.rule or {"op": "and", "items": []},
                                                     fields))
                 if fields[k].kind == "metric"}
    metrics = [fields[k] for k in sorted(used)]
    conn = session.connection()
    if dialect == "postgresql":
        # The grouped passes hash a million customers: in memory rather than spilled batches.
        conn.exec_driver_sql("SET LOCAL work_mem = '512MB'")
    staging = _staging_table(members)
    if dialect != "postgresql":
        staging.create(conn)  # PostgreSQL creates it from the query (see _fill_staging)
    try:
        _report(progress, 1, _l("Computing metrics, tiers and rule matches"))
        _fill_staging(conn, staging, metrics, tiers, members, fields, today, dialect)
        if dialect == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {staging.name}")
        _report(progress, 2, _l("Writing tier changes"))
        changed = _apply_tiers(conn, staging, now)
        tier_events.publish_changes(session, now)  # rules and webhooks hear of them
        for position, rule in enumerate(members, start=3):
            _report(progress, position, _l("Refreshing %(code)s", code=rule.code))
            _refresh_members(conn, staging, rule, now)
        _report(progress, len(members) + 3, _l("Writing counts"))
        matched = _member_counts(conn, staging, members)
        pins = _pinned_counts(conn, members)
        counts = {rule.code: matched[rule.code] + pins[rule.id][1] for rule in members}
        pinned = {rule.code: pins[rule.id][0] for rule in members}
        tier_counts = _write_counts(conn, staging, tiers, members, counts, pinned, today, now)
    finally:
        staging.drop(conn)
    return {"tiers": tier_counts, "tier_changes": changed, "segments": counts,
            "matched": matched, "pinned": pinned, "metrics": [m.metric.key for m in metrics]}


def _report(progress, done, message):
    """``message``: a lazy translation, which the job runner stores as its message id so that
    the job-run page reads it in its reader's language."""
    if progress is not None:
        progress.update(done, message=message)


def _staging_table(members) -> Table:
    """Per customer: the tier stored now, the new tier, and one match flag per membership
    rule. The metrics themselves are not kept: the rules read them in the filling query."""
    columns = [Column("customer_id", Integer, primary_key=True),
               Column("old_tier", String(20)), Column("new_tier", String(20))]
    columns += [Column(_match_column(rule), Boolean) for rule in members]
    name = f"tmp_segment_metrics_{uuid.uuid4().hex[:8]}"
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])


def _match_column(rule) -> str:
    return f"seg_{rule.id}"


def _fill_staging(conn, staging, metrics, tiers, members, fields, today, dialect):
    """One statement: customers LEFT JOIN one grouped pass per metric source (all the
    transaction metrics in one pass over the transactions, and so on), with the tier CASE and
    every membership rule evaluated on the same row."""
    from backoffice.segments.metrics import METRICS, grouped_pass, pass_window

    joined = Customer.__table__
    grouped_values = {}
    by_source: dict = {}
    needed = {field.metric.key: field.metric for field in metrics}
    for metric in list(needed.values()):
        for key in metric.depends:  # staged from the passes of what it is made of
            needed.setdefault(key, METRICS[key])
    for metric in needed.values():
        if metric.source is not None:
            by_source.setdefault(metric.source, []).append(metric)
    for source, group in sorted(by_source.items()):
        sub = grouped_pass(source, group, today, dialect).subquery()
        joined = joined.outerjoin(sub, sub.c.customer_id == Customer.id)
        windowed = pass_window(source, group) is not None
        for metric in group:
            value = sub.c["m_" + metric.key]
            if windowed and metric.latest:
                # No row in the window: that customer's own lookup (an index probe, and
                # only for them: COALESCE stops at the first value).
                value = func.coalesce(value, metric.sql_for(Customer.id, today, dialect))
            grouped_values[metric.key] = _or_empty(value, metric)
    for metric in needed.values():
        if metric.source is not None:
            continue
        if metric.combine is not None and all(k in grouped_values for k in metric.depends):
            grouped_values[metric.key] = _or_empty(metric.combine(
                {key: grouped_values[key] for key in metric.depends}), metric)
        elif metric.grouped is not None:
            sub = metric.grouped(today, dialect).subquery()
            joined = joined.outerjoin(sub, sub.c.customer_id == Customer.id)
            grouped_values[metric.key] = _or_empty(sub.c.value, metric)

    def source(field, today_, dialect_):
        if field.metric.key in grouped_values:
            return grouped_values[field.metric.key]
        return field.sql(today_, dialect_)

    tier = tier_case(tiers, fields, today=today, dialect=dialect, metric_source=source)
    names = ["customer_id", "old_tier", "new_tier"]
    values = [Customer.id, Customer.tier, tier]
    for rule in members:
        names.append(_match_column(rule))
        values.append(r.compile_rule(rule.rule or {"op": "and", "items": []}, fields,
                                     today=today, dialect=dialect, metric_source=source))
    query = select(*[v.label(n) for v, n in zip(values, names)]).select_from(joined)
    if dialect == "postgresql":
        # CREATE TABLE AS may run the grouped passes with parallel workers; INSERT ... SELECT
        # may not. The columns are cast to the staging table's types.
        inner = query.subquery()
        typed = select(*[cast(inner.c[n], staging.c[n].type).label(n)
                         for n in names])
        try:
            compiled = typed.compile(dialect=conn.dialect,
                                     compile_kwargs={"literal_binds": True})
        except CompileError:  # an operand type without a literal form: the portable way
            staging.create(conn)
        else:
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staging.name} AS {compiled}")
            conn.exec_driver_sql(f"ALTER TABLE {staging.name} ADD PRIMARY KEY (customer_id)")
            return
    conn.execute(insert(staging).from_select(names, query))


def _or_empty(column, metric):
    return column if metric.empty is None else func.coalesce(column, metric.empty)


def _apply_tiers(conn, staging, now) -> int:
    """History rows, then the new tier on just the customers whose tier moved."""
    customer = Customer.__table__
    moved = staging.c.old_tier.is_distinct_from(staging.c.new_tier)
    history = select(staging.c.customer_id, staging.c.old_tier, staging.c.new_tier,
                     literal("refresh"), literal(now)).where(moved)
    # Counted on the staging table: a driver need not report an INSERT ... SELECT's rowcount.
    changes = conn.scalar(select(func.count()).select_from(staging).where(moved))
    if changes:
        conn.execute(insert(TierChange.__table__).from_select(
            ["customer_id", "old_tier", "new_tier", "source", "changed_at"], history))
        # UPDATE ... FROM (PostgreSQL, SQLite 3.33+).
        conn.execute(update(customer).where(
            customer.c.id == staging.c.customer_id, moved,
            customer.c.tier.is_distinct_from(staging.c.new_tier))
            .values(tier=staging.c.new_tier))
    return int(changes or 0)


def _refresh_members(conn, staging, rule, now) -> None:
    """Delete the rule's members who no longer match, note on the pinned ones whether the
    rule matches them, insert the customers who newly match and are not members already."""
    membership = SegmentMembership.__table__
    matches = staging.c[_match_column(rule)]
    still = exists(select(literal(1)).select_from(staging).where(
        staging.c.customer_id == membership.c.customer_id, matches))
    pinned = membership.c.source == PINNED
    conn.execute(delete(membership).where(membership.c.segment_id == rule.id, ~pinned, ~still))
    conn.execute(update(membership).where(membership.c.segment_id == rule.id, pinned,
                                          membership.c.matched != still)
                 .values(matched=still))
    already = exists(select(literal(1)).select_from(membership).where(
        membership.c.segment_id == rule.id, membership.c.customer_id == staging.c.customer_id))
    conn.execute(insert(membership).from_select(
        ["segment_id", "customer_id", "since", "source", "matched"],
        select(literal(rule.id), staging.c.customer_id, literal(now), literal("rule"),
               literal(True)).where(matches, ~already)))


def _member_counts(conn, staging, members) -> dict:
    """How many customers match each segment and need detector: one scan of the staging."""
    if not members:
        return {}
    row = conn.execute(select(*[func.count(case((staging.c[_match_column(rule)], 1)))
                                for rule in members])).one()
    return {rule.code: int(n or 0) for rule, n in zip(members, row)}


def _pinned_counts(conn, members) -> dict:
    """``{segment id: (pinned, pinned that the rule does not match)}``, read after the
    memberships are written: one grouped query over the pinned rows (their partial index)."""
    if not members:
        return {}
    membership = SegmentMembership.__table__
    rows = conn.execute(
        select(membership.c.segment_id, func.count(),
               func.count(case((membership.c.matched.is_(False), 1))))
        .where(membership.c.source == PINNED,
               membership.c.segment_id.in_([rule.id for rule in members]))
        .group_by(membership.c.segment_id)).all()
    found = {pk: (int(n), int(unmatched)) for pk, n, unmatched in rows}
    return {rule.id: found.get(rule.id, (0, 0)) for rule in members}


def _write_counts(conn, staging, tiers, others, counts, pinned, today, now) -> dict:
    """Today's snapshot per tier rule and per segment (members, and of which pinned); the rule
    rows get the counts too."""
    by_tier = dict(conn.execute(select(staging.c.new_tier, func.count())
                                .group_by(staging.c.new_tier)).all())
    snapshot = {rule.id: (int(by_tier.get(rule.tier, 0)), None) for rule in tiers}
    snapshot.update({rule.id: (counts[rule.code], pinned[rule.code]) for rule in others})
    table, segment = SegmentCount.__table__, Segment.__table__
    if snapshot:
        conn.execute(delete(table).where(table.c.day == today,
                                         table.c.segment_id.in_(list(snapshot))))
        conn.execute(insert(table), [{"segment_id": pk, "day": today, "count": n,
                                      "pinned": p or 0}
                                     for pk, (n, p) in snapshot.items()])
        for pk, (n, p) in snapshot.items():  # one row per rule (a dozen), not per customer
            conn.execute(update(segment).where(segment.c.id == pk)
                         .values(member_count=n, pinned_count=p, refreshed_at=now))
    return {str(k): int(v) for k, v in by_tier.items()}
