"""The one use case that changes consent: record a grant or refusal, or withdraw.

Screens, imports and jobs all call :func:`record_consent` / :func:`withdraw_consent`, so that
(1) the previous open statement is closed before a new one is written (one open row per
customer, channel and purpose), (2) the ``Customer.consent_<channel>`` marketing snapshot that
campaign selection reads changes in the same transaction, and (3) the operation log records it.
The change is effective for the next selection at once: dispatch reads open rows, never a cache.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, select, update

from backoffice.audit import log
from backoffice.extensions import db
from models.base import utcnow
from models.consent import CONSENT_CHANNELS, CONSENT_PURPOSES, Consent
from models.customers import Customer


class ConsentError(ValueError):
    """The statement names an unknown channel or purpose, or no source."""


def _check(channel: str, purpose: str, source: str | None = "-") -> None:
    problems = []
    if channel not in CONSENT_CHANNELS:
        problems.append(f"unknown channel {channel!r} (one of {', '.join(CONSENT_CHANNELS)})")
    if purpose not in CONSENT_PURPOSES:
        problems.append(f"unknown purpose {purpose!r} (one of {', '.join(CONSENT_PURPOSES)})")
    if not (source or "").strip():
        problems.append("a source is required (where the customer said so)")
    if problems:
        raise ConsentError("; ".join(problems))


def record_consent(customer: Customer, channel: str, purpose: str, *, granted: bool = True,
                   source: str, staff_id: int | None = None, session=None,
                   row: Consent | None = None) -> Consent:
    """Record that the customer grants (or refuses) contact on ``channel`` for ``purpose``.

    Does not commit: the caller's transaction owns it (a screen commits, an import batches).
    ``row``: a new Consent object to fill in (the add screen's own object, which FAB then
    saves) instead of creating one.
    """
    _check(channel, purpose, source)
    session = session or db.session
    now = utcnow()
    _close_open(session, customer.id, channel, purpose, now)
    row = row if row is not None else Consent()
    row.customer_id, row.channel, row.purpose = customer.id, channel, purpose
    row.granted, row.source, row.recorded_at = bool(granted), source.strip()[:40], now
    row.recorded_by_id, row.withdrawn_at = staff_id, None
    session.add(row)
    if purpose == "marketing":
        setattr(customer, f"consent_{channel}", bool(granted))
    _log("consent.record", customer, channel, purpose, granted, source)
    return row


def withdraw_consent(customer: Customer, channel: str, purpose: str, *, source: str,
                     staff_id: int | None = None, session=None) -> Consent:
    """The customer withdraws: close the open grant and keep a refusal on record.

    A refusal row (``granted`` false) remains open, so "never asked" and "said no" differ.
    """
    return record_consent(customer, channel, purpose, granted=False, source=source,
                          staff_id=staff_id, session=session)


def _close_open(session, customer_id: int, channel: str, purpose: str, now) -> None:
    session.execute(
        update(Consent)
        .where(Consent.customer_id == customer_id, Consent.channel == channel,
               Consent.purpose == purpose, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now),
        execution_options={"synchronize_session": False},
    )


def record_flag_grants(*, source: str, session=None) -> dict[str, int]:
    """Ledger the marketing flags no statement covers yet: an open grant for each customer whose
    ``consent_<channel>`` is set and who holds no open marketing statement on that channel.

    For a bank whose earlier system kept only the flags (a migration, the demo data): the flags
    become statements with their source, recorded by the customer's owner, in one
    ``INSERT ... SELECT`` per channel and one operation-log row with the counts (thousands of
    per-statement writes would take minutes). Customers who already have a statement keep it.
    Does not commit. Returns the grants written per channel.
    """
    from sqlalchemy import func, insert, literal, not_

    _check(CONSENT_CHANNELS[0], "marketing", source)
    session = session or db.session
    now, written = utcnow(), {}
    for channel in CONSENT_CHANNELS:
        flagged = and_(getattr(Customer, f"consent_{channel}").is_(True), not_(exists(
            select(Consent.id).where(Consent.customer_id == Customer.id,
                                     Consent.channel == channel, Consent.purpose == "marketing",
                                     Consent.withdrawn_at.is_(None)))))
        before = session.scalar(select(func.count()).select_from(Consent))
        session.execute(insert(Consent).from_select(
            ["customer_id", "channel", "purpose", "granted", "source", "recorded_at",
             "recorded_by_id"],
            select(Customer.id, literal(channel), literal("marketing"), literal(True),
                   literal(source.strip()[:40]), literal(now), Customer.owner_id)
            .where(flagged)))
        written[channel] = session.scalar(select(func.count()).select_from(Consent)) - before
    log.record("consent.record_flags", entity="Consent",
               detail={"purpose": "marketing", "source": source, "granted": written})
    return written


def granted_condition(customer_id_column, channel: str, purposes) -> object:
    """SQL: the customer holds an open grant on ``channel`` for any of ``purposes``."""
    return exists(
        select(Consent.id).where(
            and_(Consent.customer_id == customer_id_column, Consent.channel == channel,
                 Consent.purpose.in_(tuple(purposes)), Consent.granted.is_(True),
                 Consent.withdrawn_at.is_(None)))
    )


def current_consents(customer_id: int, session=None) -> dict[tuple[str, str], Consent]:
    """The open statement per (channel, purpose) of one customer (for the 360 page)."""
    session = session or db.session
    rows = session.scalars(select(Consent).where(
        Consent.customer_id == customer_id, Consent.withdrawn_at.is_(None))).all()
    return {(row.channel, row.purpose): row for row in rows}


def _log(action: str, customer: Customer, channel: str, purpose: str, granted: bool,
         source: str) -> None:
    log.record(action, entity="Consent", entity_id=customer.id, customer_id=customer.id,
               detail={"channel": channel, "purpose": purpose, "granted": bool(granted),
                       "source": source})
