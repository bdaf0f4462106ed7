"""The set-based refresh of tiers, segment memberships, needs and daily counts.

A fixed number of statements whatever the number of customers, no customer loaded into Python:

1. one ``INSERT ... SELECT`` fills a temporary table with every metric any active rule uses
   (grouped subqueries over accounts, transactions and interactions, LEFT JOINed to customers)
   and each customer's new tier (the tier rules as one ``CASE``, first match wins);
2. tier changes go to ``tier_change`` (history) and onto ``customer.tier`` (only changed rows);
3. per segment and need detector: delete memberships that no longer match, insert new ones
   (``since`` is kept for customers who stay);
4. today's counts go to ``segment_count`` (rewritten if the refresh runs twice a day).

Sharing the metrics table is why the refresh does not run each rule's own correlated query: ten
rules over AUM would compute AUM ten times per customer.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
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
from sqlalchemy.exc import CompileError

from backoffice.segments import rules as r
from models import Segment, SegmentCount, SegmentMembership, TierChange
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
    needs = active_rules(session, "need")
    used = set()
    for rule in tiers + segments + needs:
        used |= {k for k in r.fields_used(r.validate(rule.rule or {"op": "and", "items": []},
                                                     fields))
                 if fields[k].kind == "metric"}
    metrics = [fields[k] for k in sorted(used)]
    conn = session.connection()
    if dialect == "postgresql":  # grouped passes over millions of rows: hash in memory
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    staging = _staging_table(metrics)
    if dialect != "postgresql":
        staging.create(conn)  # PostgreSQL creates it from the query (see _fill_staging)
    try:
        _report(progress, 1, "computing metrics and tiers")
        _fill_staging(conn, staging, metrics, tiers, fields, today, dialect)
        if dialect == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {staging.name}")
        _report(progress, 2, "writing tier changes")
        changed = _apply_tiers(conn, staging, now)
        counts = {}
        for position, rule in enumerate(segments + needs, start=3):
            _report(progress, position, f"refreshing {rule.code}")
            counts[rule.code] = _refresh_members(conn, staging, rule, fields, today, dialect, now)
        tier_counts = _write_counts(conn, tiers, segments + needs, counts, today, now)
    finally:
        staging.drop(conn)
    return {"tiers": tier_counts, "tier_changes": changed, "segments": counts,
            "metrics": [m.metric.key for m in metrics]}


def _report(progress, done, message):
    if progress is not None:
        progress.update(done, message=message)


def _staging_table(metrics) -> Table:
    columns = [Column("customer_id", Integer, primary_key=True),
               Column("new_tier", String(20))]
    for field in metrics:
        sql_type = DateTime if field.date_unit == "days" else Float
        if field.date_unit == "years" or (field.metric.source is None
                                          and field.metric.grouped is None):
            continue  # read from the customer row itself (a column or a correlated form)
        columns.append(Column(_column_name(field), sql_type))
    name = f"tmp_segment_metrics_{uuid.uuid4().hex[:8]}"
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])


def _column_name(field) -> str:
    return "m_" + field.metric.key


def _fill_staging(conn, staging, metrics, tiers, fields, today, dialect):
    """One INSERT ... SELECT: customers LEFT JOIN one grouped pass per metric source (all the
    transaction metrics in one pass over the transactions, and so on)."""
    from backoffice.segments.metrics import grouped_pass

    joined = Customer.__table__
    grouped_values = {}
    by_source: dict = {}
    for field in metrics:
        if field.metric.source is not None:
            by_source.setdefault(field.metric.source, []).append(field.metric)
    for source, members in sorted(by_source.items()):
        sub = grouped_pass(source, members, today, dialect).subquery()
        joined = joined.outerjoin(sub, sub.c.customer_id == Customer.id)
        for metric in members:
            grouped_values[metric.key] = _or_empty(sub.c["m_" + metric.key], metric)
    for field in metrics:
        metric = field.metric
        if metric.source is None and metric.grouped is not None:
            sub = metric.grouped(today, dialect).subquery()
            joined = joined.outerjoin(sub, sub.c.customer_id == Customer.id)
            grouped_values[metric.key] = _or_empty(sub.c.value, metric)

    def source(field, today_, dialect_):
        if field.metric.key in grouped_values:
            return grouped_values[field.metric.key]
        return field.sql(today_, dialect_)

    tier = tier_case(tiers, fields, today=today, dialect=dialect, metric_source=source)
    names = ["customer_id", "new_tier"]
    values = [Customer.id, tier]
    for field in metrics:
        if field.metric.key in grouped_values:
            names.append(_column_name(field))
            values.append(grouped_values[field.metric.key])
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


def _staged_source(staging):
    """Metric values read from the staging row joined to the customer."""
    def source(field, today, dialect):
        name = _column_name(field)
        if name in staging.c:
            return staging.c[name]
        return field.sql(today, dialect)
    return source


def _apply_tiers(conn, staging, now) -> int:
    customer = Customer.__table__
    changed = and_(staging.c.customer_id == customer.c.id,
                   customer.c.tier.is_distinct_from(staging.c.new_tier))
    history = select(customer.c.id, customer.c.tier, staging.c.new_tier, literal("refresh"),
                     literal(now)).select_from(customer.join(staging, changed))
    table = TierChange.__table__
    changes = conn.scalar(select(func.count()).select_from(customer.join(staging, changed)))
    conn.execute(insert(table).from_select(
        ["customer_id", "old_tier", "new_tier", "source", "changed_at"], history))
    # UPDATE ... FROM (PostgreSQL, SQLite 3.33+): only the customers whose tier changed.
    conn.execute(update(customer).where(changed).values(tier=staging.c.new_tier))
    return int(changes or 0)


def _refresh_members(conn, staging, rule, fields, today, dialect, now) -> int:
    membership = SegmentMembership.__table__
    condition = r.compile_rule(rule.rule or {"op": "and", "items": []}, fields, today=today,
                               dialect=dialect, metric_source=_staged_source(staging))
    matching = (select(Customer.id).select_from(
        Customer.__table__.join(staging, staging.c.customer_id == Customer.id))
        .where(condition))
    matching_sub = matching.subquery()
    conn.execute(delete(membership).where(
        membership.c.segment_id == rule.id,
        ~membership.c.customer_id.in_(select(matching_sub.c.id))))
    already = exists(select(literal(1)).select_from(membership).where(
        membership.c.segment_id == rule.id, membership.c.customer_id == matching_sub.c.id))
    conn.execute(insert(membership).from_select(
        ["segment_id", "customer_id", "since"],
        select(literal(rule.id), matching_sub.c.id, literal(now)).where(~already)))
    return int(conn.scalar(select(func.count()).select_from(membership)
                           .where(membership.c.segment_id == rule.id)) or 0)


def _write_counts(conn, tiers, others, counts, today, now) -> dict:
    """Today's snapshot per tier rule and per segment; the rule rows get the count too."""
    customer = Customer.__table__
    by_tier = dict(conn.execute(select(customer.c.tier, func.count())
                                .group_by(customer.c.tier)).all())
    snapshot = {rule.id: int(by_tier.get(rule.tier, 0)) for rule in tiers}
    snapshot.update({rule.id: counts[rule.code] for rule in others})
    table, segment = SegmentCount.__table__, Segment.__table__
    if snapshot:
        conn.execute(delete(table).where(table.c.day == today,
                                         table.c.segment_id.in_(list(snapshot))))
        conn.execute(insert(table), [{"segment_id": pk, "day": today, "count": n}
                                     for pk, n in snapshot.items()])
        for pk, n in snapshot.items():  # one row per rule (a dozen), not per customer
            conn.execute(update(segment).where(segment.c.id == pk)
                         .values(member_count=n, refreshed_at=now))
    return {str(k): int(v) for k, v in by_tier.items()}
