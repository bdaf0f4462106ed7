"""Writing the demo bank into a database: checks first, then set-based inserts chunk by chunk.

Rows go in with ``session.execute(insert(table), rows)`` in batches (executemany; on PostgreSQL
SQLAlchemy folds them into multi-row VALUES), never one ORM flush per row, and each chunk of
customers is committed on its own so memory and transaction size stay bounded at a million
customers. Because primary keys are assigned by the generator, PostgreSQL's sequences are moved
past them at the end; otherwise the next row added through a screen would collide. Customer and
account rows are generated in plaintext and sealed just before their insert: each gets a
``record_uid``, its sensitive fields become ciphertext, and the searchable ones a blind index.

A failure part-way leaves the chunks already committed in place; the refusal check then stops a
second run, and the database should be recreated (``flask db downgrade base && flask db upgrade``)
before loading again.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask_appbuilder.security.sqla.models import Role, assoc_user_role
from sqlalchemy import Sequence, func, insert, select, text
from werkzeug.security import generate_password_hash

from backoffice.demo.generator import TABLES, Chunk, generate
from backoffice.demo.org import STAFF_ROLES
from models import (
    Account,
    Branch,
    Customer,
    FollowUp,
    Interaction,
    Product,
    Staff,
    Transaction,
    crypto,
)

log = logging.getLogger(__name__)

DEFAULT_PASSWORD = "Demo-Passw0rd!2026"
MIN_PASSWORD_LENGTH = 12
INSERT_BATCH = 10_000
ENCRYPTED_TABLES = ("customer", "account")  # generated in plaintext, stored as ciphertext
TABLE_OBJECTS = {
    "branch": Branch.__table__, "ab_user": Staff.__table__, "ab_user_role": assoc_user_role,
    "product": Product.__table__, "customer": Customer.__table__, "account": Account.__table__,
    "transaction": Transaction.__table__, "interaction": Interaction.__table__,
    "follow_up": FollowUp.__table__,
}


class DemoError(Exception):
    """The demo data cannot be loaded; the message says why and what to do."""


class MissingRoles(DemoError):
    """The roles the demo staff need do not exist yet: run ``flask crm init`` first."""


class DemoAlreadyLoaded(DemoError):
    """Customers (or the demo's staff or branches) already exist; loading twice is refused."""


@dataclass
class DemoResult:
    """What a load did: logins to print, rows inserted per table, and how long it took."""

    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def load_demo(session, customers: int = 1000, seed: int = 2026, tx_per_month: float = 4,
              today: dt.date | None = None, password: str | None = None,
              keyring: crypto.KeyRing | None = None) -> DemoResult:
    """Fill an empty bank with ``customers`` demo customers; commits chunk by chunk.

    Sensitive fields are encrypted on the way in (``models.crypto.seal_rows``) with ``keyring``,
    by default the active one (the Flask app's, or a ``using_keyring`` block's).
    """
    started = time.perf_counter()
    keyring, result, chunks = _prepare(session, customers, seed, tx_per_month, today,
                                       password, keyring)
    done = 0
    try:
        for number, chunk in enumerate(chunks):
            if number == 0:
                _refuse_clashes(session, chunk.rows)
                result.logins = chunk.logins
            for name in TABLES:
                rows = chunk.rows[name]
                if name in ENCRYPTED_TABLES:
                    rows = crypto.seal_rows(name, rows, keyring)
                for start in range(0, len(rows), INSERT_BATCH):
                    session.execute(insert(TABLE_OBJECTS[name]), rows[start:start + INSERT_BATCH])
                result.counts[name] += len(rows)
            session.commit()
            done += chunk.customers
            if chunk.customers:
                log.info("demo: %d/%d customers loaded", done, customers)
        _reset_sequences(session)
        session.commit()
    except Exception:
        session.rollback()
        raise
    result.seconds = time.perf_counter() - started
    return result


def _prepare(session, customers, seed, tx_per_month, today, password, keyring,
             **generate_options) -> tuple[crypto.KeyRing, DemoResult, Iterator[Chunk]]:
    """What both loaders (INSERT here, COPY in ``bulk``) do before the first row is written.

    Validates the arguments, finds the key ring, refuses a bank that already has customers or
    lacks the roles, and starts the generator after the ids already taken. Returns the key ring,
    an empty result to fill and the generator's chunks (the organisation first).
    """
    password = password or DEFAULT_PASSWORD
    _validate(customers, tx_per_month, password)
    try:
        keyring = keyring or crypto.current_keyring()
    except crypto.KeyRingUnavailable as exc:
        raise DemoError(f"Cannot encrypt the demo customers: {exc}") from exc
    roles = _role_ids(session)
    _refuse_if_loaded(session)
    next_ids = {name: _max_id(session, TABLE_OBJECTS[name]) + 1 for name in TABLES}
    existing_products = dict(session.execute(
        select(Product.__table__.c.code, Product.__table__.c.id)).all())
    chunks = generate(
        customers=customers, seed=seed, tx_per_month=tx_per_month,
        today=today or dt.date.today(), roles=roles, password=password,
        password_hash=_hash(password), next_ids=next_ids,
        existing_products=existing_products, **generate_options,
    )
    return keyring, DemoResult(counts={name: 0 for name in TABLES}), chunks


def _validate(customers, tx_per_month, password) -> None:
    if not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a positive whole number, got {customers!r}")
    if tx_per_month < 0:
        raise ValueError(f"tx_per_month must not be negative, got {tx_per_month!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the demo password must have at least {MIN_PASSWORD_LENGTH} characters")


def _hash(password: str) -> str:
    """One salted hash shared by all demo staff (hashing thousands of logins would take minutes).

    The method follows FAB's settings when an app is active, so demo users log in like any other.
    """
    method, salt_length = "scrypt", 16
    from flask import current_app, has_app_context

    if has_app_context():
        method = current_app.config.get("FAB_PASSWORD_HASH_METHOD", method)
        salt_length = current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", salt_length)
    return generate_password_hash(password, method=method, salt_length=salt_length)


def _role_ids(session) -> dict[str, int]:
    table = Role.__table__
    found = dict(session.execute(
        select(table.c.name, table.c.id).where(table.c.name.in_(STAFF_ROLES))).all())
    missing = [name for name in STAFF_ROLES if name not in found]
    if missing:
        raise MissingRoles(
            f"Roles missing: {', '.join(missing)}. Run `flask crm init` first to create the "
            "roles, then load the demo data."
        )
    return found


def _refuse_if_loaded(session) -> None:
    table = Customer.__table__
    if session.execute(select(table.c.id).limit(1)).first() is not None:
        raise DemoAlreadyLoaded(
            "The database already holds customers; demo data is only loaded into an empty bank. "
            "Recreate the database (or use a fresh one) to load it again."
        )


def _refuse_clashes(session, rows: dict[str, list[dict]]) -> None:
    """Stop before writing anything if a demo login, e-mail or branch code is already taken."""
    staff, branch = Staff.__table__, Branch.__table__
    taken = set()
    for username, email, employee_no in session.execute(
            select(staff.c.username, staff.c.email, staff.c.employee_no)):
        taken.update((username, email, employee_no))
    clashes = sorted(
        value for row in rows["ab_user"]
        for value in (row["username"], row["email"], row["employee_no"]) if value in taken
    )
    codes = set(session.execute(select(branch.c.code)).scalars())
    clashes += sorted(row["code"] for row in rows["branch"] if row["code"] in codes)
    if clashes:
        raise DemoAlreadyLoaded(
            "Demo staff or branches already exist (" + ", ".join(clashes[:5])
            + (", ..." if len(clashes) > 5 else "") + "); load the demo into a fresh database."
        )


def _max_id(session, table) -> int:
    return session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()


def _reset_sequences(session) -> None:
    """Move PostgreSQL sequences past the explicit ids (FAB names its own, ours are SERIAL)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    preparer = session.get_bind().dialect.identifier_preparer
    for name in TABLES:
        table = TABLE_OBJECTS[name]
        default = table.c.id.default
        if isinstance(default, Sequence):
            sequence = preparer.format_sequence(default)
        else:
            sequence = session.execute(
                select(func.pg_get_serial_sequence(preparer.format_table(table), "id"))
            ).scalar_one()
        if sequence is None:
            continue
        highest = _max_id(session, table)
        session.execute(text("SELECT setval(:sequence, :value, :called)"),
                        {"sequence": sequence, "value": max(highest, 1), "called": highest > 0})
