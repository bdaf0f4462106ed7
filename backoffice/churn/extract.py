"""The grouped queries behind the churn features: a handful per chunk of customers (training),
or one set-based pass over every customer (scoring, ``backoffice.churn.staging``), never one per
customer, on SQLite and PostgreSQL alike.

Each query exists as a statement (``*_statement``, bounded to an id range or not) and as the data
frame of one chunk (``*_aggregates``).

Every window is measured in days back from a reference day (epoch days). Scoring passes one
reference day for everybody; training on closed customers passes, per customer, a day before
they left (``closed_on`` minus a gap), so the same queries describe a leaver as they were.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from backoffice.churn import features as F
from models import Account, Customer, Interaction, Product, Transaction
from models.complaints import Complaint
from models.metrics import LIABILITY_CATEGORIES

EPOCH = dt.datetime(1970, 1, 1)
# Standard customer columns an admin may mark as model features (no identities, no ciphertext).
STANDARD_FEATURE_COLUMNS = {
    "occupation": "categorical", "flag_elderly": "numeric", "flag_disability": "numeric",
    "flag_vip": "numeric", "consent_sms": "numeric", "consent_email": "numeric",
    "consent_phone": "numeric", "consent_wechat": "numeric", "branch_id": "categorical",
}


class epoch_days(FunctionElement):
    """Days since 1970-01-01 of a date or timestamp column, as a float, in either dialect."""

    type = Float()
    inherit_cache = True


@compiles(epoch_days)
def _epoch_days_default(element, compiler, **kw):  # SQLite: julianday() is built in
    return f"(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5)"


@compiles(epoch_days, "postgresql")
def _epoch_days_postgresql(element, compiler, **kw):
    arg = compiler.process(element.clauses, **kw)
    return f"(EXTRACT(EPOCH FROM CAST({arg} AS TIMESTAMP)) / 86400.0)"


def to_epoch_days(moment) -> float:
    if isinstance(moment, dt.datetime):
        return (moment - EPOCH).total_seconds() / 86400.0
    return float((moment - EPOCH.date()).days)


@dataclass(frozen=True)
class Snapshot:
    """Where the windows end: ``as_of`` for everybody, or per customer for training leavers."""

    as_of: dt.datetime
    closed_gap_days: int | None = None  # set: closed customers are seen this long before leaving

    def ref_day(self) -> ColumnElement:
        today = literal(to_epoch_days(self.as_of), Float())
        if self.closed_gap_days is None:
            return today
        return case((and_(Customer.status == "closed", Customer.closed_on.is_not(None)),
                     epoch_days(Customer.closed_on) - float(self.closed_gap_days)), else_=today)


def _bounded(statement, column, lo: int | None, hi: int | None):
    """``statement`` limited to ids lo..hi; both ``None``: every customer."""
    return statement if lo is None else statement.where(column.between(lo, hi))


def _ref_subquery(snapshot: Snapshot, lo: int | None, hi: int | None):
    return _bounded(select(Customer.id.label("customer_id"), snapshot.ref_day().label("ref_day")),
                    Customer.id, lo, hi).subquery("ref")


def _reference(snapshot: Snapshot, lo: int | None, hi: int | None):
    """``(ref_day expression, subquery to join or None)``.

    Scoring has one reference day for everybody: a constant, so the grouped queries read the
    activity table alone (no join to ``customer``, no per-row date arithmetic). Training on
    leavers needs each customer's own day, hence the join.
    """
    if snapshot.closed_gap_days is None:
        return literal(to_epoch_days(snapshot.as_of), Float()), None
    ref = _ref_subquery(snapshot, lo, hi)
    return ref.c.ref_day, ref


def _join_ref(statement, ref, customer_column):
    return statement if ref is None else statement.join(ref, ref.c.customer_id == customer_column)


def _frame(session, statement) -> pd.DataFrame:
    result = session.execute(statement, execution_options={"crm_unscoped": True})
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _sum_if(condition, value=1):
    """Sum of ``value`` over the rows meeting ``condition`` (``FILTER``: PostgreSQL and SQLite
    3.30+ skip the other rows instead of adding a zero for each; no rows gives NULL, which
    the feature code reads as zero)."""
    if isinstance(value, int) and value == 1:
        return func.count().filter(condition)
    return func.sum(value).filter(condition)


def _age_window(snapshot: Snapshot, ref, column):
    """``within(lo, hi)``: the event in ``column`` happened lo..hi days before the reference.

    With one reference day for everybody (scoring) the test is on the timestamp itself, against
    constants: no per-row date arithmetic, which is most of the cost at a million customers.
    """
    if snapshot.closed_gap_days is None:
        def within(lo_days, hi_days):
            return and_(column <= snapshot.as_of - dt.timedelta(days=lo_days),
                        column > snapshot.as_of - dt.timedelta(days=hi_days))

        def after_ref():
            return column > snapshot.as_of

        return within, after_ref
    age = ref - epoch_days(column)

    def within(lo_days, hi_days):
        return and_(age >= lo_days, age < hi_days)

    def after_ref():
        return age < 0

    return within, after_ref


def transaction_aggregates(session, snapshot: Snapshot, lo: int, hi: int) -> pd.DataFrame:
    """Counts, amounts and net flows per customer over the windows before the reference day."""
    return _frame(session, transaction_statement(snapshot, lo, hi))


def transaction_statement(snapshot: Snapshot, lo: int | None = None, hi: int | None = None):
    """The grouped query behind :func:`transaction_aggregates` (no bounds: every customer)."""
    ref_day, ref = _reference(snapshot, lo, hi)
    within, after_ref = _age_window(snapshot, ref_day, Transaction.occurred_at)
    amount = cast(Transaction.amount, Float())  # float sums: twice as fast as numeric ones
    signed = case((Transaction.direction == "in", amount), else_=-amount)
    statement = (
        select(
            Transaction.customer_id,
            _sum_if(within(0, 30)).label("tx_count_30d"),
            _sum_if(within(30, 60)).label("tx_count_prior_30d"),
            _sum_if(within(0, 90)).label("tx_count_90d"),
            _sum_if(within(90, 180)).label("tx_count_prior_90d"),
            _sum_if(within(0, 90), amount).label("tx_amount_90d"),
            _sum_if(within(90, 180), amount).label("tx_amount_prior_90d"),
            _sum_if(within(0, 30), signed).label("net_in_30d"),
            _sum_if(within(0, 60), signed).label("net_in_60d"),
            _sum_if(within(0, 90), signed).label("net_in_90d"),
            _sum_if(after_ref(), signed).label("net_in_after_ref"),
            _sum_if(within(0, 365), amount).label("volume_365d"),
            # Days from the last transaction to the reference day: one conversion per group.
            (func.min(ref_day) - epoch_days(
                func.max(Transaction.occurred_at).filter(~after_ref()))).label("last_tx_age"),
        )
        .where(Transaction.occurred_at >= _earliest(snapshot))
        .group_by(Transaction.customer_id)
    )
    statement = _bounded(statement, Transaction.customer_id, lo, hi)
    return _join_ref(statement, ref, Transaction.customer_id)


def _earliest(snapshot: Snapshot) -> dt.datetime:
    """No window reaches further back than a year (two for training on past leavers)."""
    years = 1 if snapshot.closed_gap_days is None else 3
    return snapshot.as_of - dt.timedelta(days=366 * years + (snapshot.closed_gap_days or 0))


def account_aggregates(session, snapshot: Snapshot, lo: int, hi: int) -> pd.DataFrame:
    """Today's assets, and products held, opened and closed around the reference day."""
    return _frame(session, account_statement(snapshot, lo, hi))


def account_statement(snapshot: Snapshot, lo: int | None = None, hi: int | None = None):
    ref_day, ref = _reference(snapshot, lo, hi)
    opened_age = ref_day - epoch_days(Account.opened_on)
    closed_age = ref_day - epoch_days(Account.closed_on)
    is_asset = Product.category.not_in(LIABILITY_CATEGORIES)
    held = and_(opened_age >= 0, (Account.closed_on.is_(None)) | (closed_age < 0))
    statement = (
        select(
            Account.customer_id,
            _sum_if(and_(Account.status == "open", is_asset),
                    cast(Account.balance, Float())).label("assets_now"),
            _sum_if(held).label("products_held"),
            _sum_if(and_(opened_age >= 0, opened_age < 180)).label("products_opened_180d"),
            _sum_if(and_(Account.closed_on.is_not(None), closed_age >= 0,
                         closed_age < 180)).label("products_closed_180d"),
        )
        .join(Product, Product.id == Account.product_id)
        .group_by(Account.customer_id)
    )
    statement = _bounded(statement, Account.customer_id, lo, hi)
    return _join_ref(statement, ref, Account.customer_id)


def interaction_aggregates(session, snapshot: Snapshot, lo: int, hi: int,
                           unanswered_window: int = 180) -> pd.DataFrame:
    """Recency, complaints, inquiries, satisfaction and unanswered contacts per customer."""
    return _frame(session, interaction_statement(snapshot, lo, hi, unanswered_window))


def interaction_statement(snapshot: Snapshot, lo: int | None = None, hi: int | None = None,
                          unanswered_window: int = 180):
    ref_day, ref = _reference(snapshot, lo, hi)
    age = ref_day - epoch_days(Interaction.occurred_at)
    within, after_ref = _age_window(snapshot, ref_day, Interaction.occurred_at)
    seen = ~after_ref()
    inquiry = Interaction.topic == "inquiry"
    main = _join_ref(_bounded(
        select(
            Interaction.customer_id,
            func.min(age).filter(seen).label("last_interaction_age"),
            func.min(age).filter(and_(seen, Interaction.direction == "inbound"))
            .label("last_inbound_age"),
            _sum_if(and_(within(0, 30), Interaction.complaint.is_(True))).label("complaints_30d"),
            _sum_if(and_(within(0, 90), Interaction.complaint.is_(True))).label("complaints_90d"),
            _sum_if(and_(within(0, 90), inquiry)).label("inquiries_90d"),
            _sum_if(and_(within(90, 180), inquiry)).label("inquiries_prior_90d"),
            func.avg(Interaction.satisfaction).filter(within(0, 90))
            .label("satisfaction_recent"),
            func.avg(Interaction.satisfaction).filter(within(90, 365))
            .label("satisfaction_prior"),
        )
        .group_by(Interaction.customer_id), Interaction.customer_id, lo, hi),
        ref, Interaction.customer_id
    ).subquery("main")
    # Outbound contacts since the last inbound one (none inbound: all in the window).
    later = _join_ref(_bounded(
        select(Interaction.customer_id, func.count().label("unanswered_contacts"))
        .join(main, main.c.customer_id == Interaction.customer_id)
        .where(Interaction.direction == "outbound", within(0, unanswered_window),
               (main.c.last_inbound_age.is_(None)) | (age < main.c.last_inbound_age))
        .group_by(Interaction.customer_id), Interaction.customer_id, lo, hi),
        ref, Interaction.customer_id
    ).subquery("later")
    return select(main, func.coalesce(later.c.unanswered_contacts, 0)
                  .label("unanswered_contacts")).outerjoin(
        later, later.c.customer_id == main.c.customer_id)


def complaint_aggregates(session, snapshot: Snapshot, lo: int, hi: int) -> pd.DataFrame:
    """Complaint cases per customer: opened in 30/90 days, open at the reference day, hours to
    resolve the last resolved one and the last re-check satisfaction.

    ``complaint_cases_*`` leave out cases raised from an interaction already flagged as a
    complaint, so adding them to the interaction counts never counts one complaint twice.
    """
    return _frame(session, complaint_statement(snapshot, lo, hi))


def complaint_statement(snapshot: Snapshot, lo: int | None = None, hi: int | None = None):
    ref_day, ref = _reference(snapshot, lo, hi)
    within, after_ref = _age_window(snapshot, ref_day, Complaint.opened_at)
    _within_resolved, resolved_after = _age_window(snapshot, ref_day, Complaint.resolved_at)
    _within_rechecked, rechecked_after = _age_window(snapshot, ref_day, Complaint.rechecked_at)
    flagged = Interaction.__table__.alias("flagged")
    new_case = flagged.c.id.is_(None)
    resolved = and_(Complaint.resolved_at.is_not(None), ~resolved_after())
    rechecked = and_(Complaint.recheck_satisfaction.is_not(None),
                     Complaint.rechecked_at.is_not(None), ~rechecked_after())
    hours = (epoch_days(Complaint.resolved_at) - epoch_days(Complaint.opened_at)) * 24.0
    resolved_rank = func.row_number().over(
        partition_by=Complaint.customer_id,
        order_by=(case((resolved, 0), else_=1), Complaint.resolved_at.desc(),
                  Complaint.id.desc()))
    rechecked_rank = func.row_number().over(
        partition_by=Complaint.customer_id,
        order_by=(case((rechecked, 0), else_=1), Complaint.rechecked_at.desc(),
                  Complaint.id.desc()))
    ranked = _join_ref(_bounded(
        select(Complaint.customer_id,
               and_(within(0, 30), new_case).label("case_30d"),
               and_(within(0, 90), new_case).label("case_90d"),
               and_(~after_ref(), (Complaint.resolved_at.is_(None)) | resolved_after())
               .label("open_at_ref"),
               case((resolved, hours)).label("hours"),
               case((rechecked, Complaint.recheck_satisfaction)).label("satisfaction"),
               resolved_rank.label("resolved_rank"), rechecked_rank.label("rechecked_rank"))
        .select_from(Complaint.__table__.outerjoin(
            flagged, and_(flagged.c.id == Complaint.interaction_id,
                          flagged.c.complaint.is_(True)))),
        Complaint.customer_id, lo, hi), ref, Complaint.customer_id
    ).subquery("ranked")
    return (
        select(ranked.c.customer_id,
               _sum_if(ranked.c.case_30d).label("complaint_cases_30d"),
               _sum_if(ranked.c.case_90d).label("complaint_cases_90d"),
               _sum_if(ranked.c.open_at_ref).label("open_complaints"),
               func.max(ranked.c.hours).filter(ranked.c.resolved_rank == 1)
               .label("last_complaint_hours_to_resolve"),
               func.max(ranked.c.satisfaction).filter(ranked.c.rechecked_rank == 1)
               .label("last_recheck_satisfaction"))
        .group_by(ranked.c.customer_id)
    )


def customer_rows(session, snapshot: Snapshot, lo: int, hi: int, *, custom_json: bool = False,
                  standard: tuple = (), where=None) -> pd.DataFrame:
    """Profile columns, reference day and (when asked) the custom-field JSON of a chunk."""
    columns = customer_columns(snapshot, custom_json=custom_json, standard=standard)
    statement = select(*columns).where(Customer.id.between(lo, hi))
    if where is not None:
        statement = statement.where(where)
    return _frame(session, statement.order_by(Customer.id))


def customer_columns(snapshot: Snapshot, *, custom_json: bool = False, standard: tuple = (),
                     flags_as_numbers: bool = False) -> list:
    """The profile columns of :func:`customer_rows` (``flags_as_numbers``: booleans as 0/1,
    for a staging table read back as text)."""
    columns = [
        Customer.id, snapshot.ref_day().label("ref_day"),
        epoch_days(Customer.birth_date).label("birth_day"),
        epoch_days(Customer.onboarded_on).label("onboarded_day"),
        func.coalesce(Customer.tier_override, Customer.tier).label("tier"),
        Customer.customer_type, Customer.gender, Customer.risk_tolerance,
        Customer.status.label("customer_status"),
    ]
    for name in standard:
        column = getattr(Customer, name)
        if flags_as_numbers and STANDARD_FEATURE_COLUMNS[name] == "numeric":
            column = case((column.is_(None), None), (column.is_(True), 1), else_=0)
        columns.append(column.label(F.standard_column(name)))
    if custom_json:
        columns.append(Customer.custom_fields)
    return columns


def id_chunks(session, chunk: int, where=None):
    """(lo, hi) id ranges of at most ``chunk`` customers, in id order (keyset pagination)."""
    last = 0
    while True:
        statement = select(Customer.id).where(Customer.id > last)
        if where is not None:
            statement = statement.where(where)
        ids = session.execute(statement.order_by(Customer.id).limit(chunk),
                              execution_options={"crm_unscoped": True}).scalars().all()
        if not ids:
            return
        yield ids[0], ids[-1]
        last = ids[-1]
