"""A year of operation log for a loaded demo bank, in bulk, for benchmarks at 10,000,000 rows.

The rows look like what the app writes (``backoffice.audit``): staff open 360 pages and records
of their own customers, log in and out, edit, export, reveal, approve; a few logins fail. Each row
is chained exactly like ``audit.chain.append`` chains (same ids after the head, same hash over
the same canonical fields), so ``flask crm audit verify`` accepts the result, and the head moves
to the last row. Rows stream through one COPY inside one transaction that holds the chain head's
lock, so no other writer can interleave; the secondary indexes of ``audit_log`` are dropped first
and rebuilt once at the end (as the bulk demo loader does). PostgreSQL only, on a quiet database.
"""
from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.audit import chain
from backoffice.demo.bulk import _analyze_tables, _drop_secondary_indexes, _recreate_indexes
from backoffice.demo.loader import DemoError
from backoffice.demo.timeline import local_to_utc
from models import Customer, Staff

# action, entity, weight (share of all rows), customer-bound
ACTIONS = (
    ("view_360", "Customer", 38, True),
    ("view_customer", "Interaction", 14, True),
    ("view_customer", "FollowUp", 8, True),
    ("api_get", "Customer", 6, True),
    ("update", "Customer", 5, True),
    ("create", "Interaction", 7, True),
    ("update", "FollowUp", 5, True),
    ("login", "Staff", 7, False),
    ("logout", "Staff", 6, False),
    ("export", "Customer", 1, False),
    ("reveal", "Customer", 0.6, True),
    ("change_approve", "ChangeRequest", 1, True),
    ("login_failed", "Staff", 0.4, False),
)
USER_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/126.0",
               "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
FIELDS = ("mobile", "address", "email", "occupation", "risk_tolerance")


def load_operation_log(session, rows: int, seed: int = 7, today: dt.date | None = None,
                       days: int = 365, progress=None) -> dict:
    """Append ``rows`` chained log rows spread over ``days`` days before ``today``."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        raise DemoError("The bulk operation-log generator needs PostgreSQL.")
    if rows < 1:
        raise ValueError(f"rows must be a positive whole number, got {rows!r}")
    with bind.connect() as connection, Session(bind=connection) as own:
        return _load(own, rows, seed, today or dt.date.today(), days, progress)


def _actors(session):
    """(id, username, roles, branch id, customer ids) of the demo's serving staff."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role

    staff, role, link = Staff.__table__, Role.__table__, assoc_user_role
    found = session.execute(
        select(staff.c.id, staff.c.username, role.c.name, staff.c.branch_id)
        .select_from(staff.join(link, link.c.user_id == staff.c.id)
                     .join(role, role.c.id == link.c.role_id))
        .where(role.c.name.in_(("SeniorManager", "BranchManager", "RelationshipManager",
                                "Teller")))).all()
    customer = Customer.__table__
    books: dict[int, list[int]] = defaultdict(list)
    branches: dict[int, list[int]] = defaultdict(list)
    for cid, owner, teller, branch in session.execute(
            select(customer.c.id, customer.c.owner_id, customer.c.teller_id,
                   customer.c.branch_id)):
        if owner:
            books[owner].append(cid)
        if teller:
            books[teller].append(cid)
        branches[branch].append(cid)
    everyone = [cid for ids in branches.values() for cid in ids]
    actors = []
    for user_id, username, role_name, branch_id in found:
        pool = (books.get(user_id) if role_name in ("RelationshipManager", "Teller")
                else branches.get(branch_id) if role_name == "BranchManager" else everyone)
        if pool:
            actors.append((user_id, username, role_name, pool))
    if not actors:
        raise DemoError("No demo staff with customers: load the demo bank first.")
    return actors


def generate_rows(rng: random.Random, actors, rows: int, first_id: int, prev_hash: str,
                  start: dt.datetime, span_seconds: float):
    """Yield (id, fields..., prev_hash, row_hash) tuples in chain order, times increasing."""
    weights = [w for _a, _e, w, _c in ACTIONS]
    plan = rng.choices(ACTIONS, weights=weights, k=min(rows, 100_000))
    step = span_seconds / rows
    ips = [f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"
           for _ in range(len(actors))]
    for n in range(rows):
        action, entity, _w, bound = plan[n % len(plan)]
        index = rng.randrange(len(actors))
        user_id, username, role_name, pool = actors[index]
        customer_id = rng.choice(pool) if bound else None
        when = start + dt.timedelta(seconds=n * step + rng.random() * step)
        detail = _detail(rng, action)
        row = {
            "occurred_at": when,
            "actor_id": None if action == "login_failed" else user_id,
            "actor_username": username, "actor_roles": None if action == "login_failed"
            else role_name, "ip": ips[index], "user_agent": USER_AGENTS[index % 3],
            "action": action, "entity": entity,
            "entity_id": str(customer_id if entity == "Customer" and bound
                             else rng.randint(1, 5_000_000)) if bound or action == "export"
            else str(user_id),
            "customer_id": customer_id, "detail": detail,
        }
        row_id = first_id + n
        row_hash = chain.compute_hash(row_id, row, prev_hash)
        yield (row_id, *(row[name] for name in chain.FIELDS), prev_hash, row_hash)
        prev_hash = row_hash


def _detail(rng, action):
    if action == "update":
        field = rng.choice(FIELDS)
        return chain.canonical_json({"changes": {field: ["***", "***"]}, "op": "update"})
    if action == "login":
        return '{"via":"form"}'
    if action == "export":
        return chain.canonical_json({"format": rng.choice(("csv", "xlsx")),
                                     "count": rng.randint(1, 500)})
    if action == "reveal":
        return chain.canonical_json({"field": rng.choice(("mobile", "id_number")),
                                     "reason": "客户来电核实身份"})
    return None


def _load(session, rows, seed, today, days, progress) -> dict:
    started = time.perf_counter()
    rng = random.Random(seed)
    actors = _actors(session)
    session.commit()
    dropped = _drop_secondary_indexes(session, ("audit_log",))
    try:
        connection = session.connection()
        last_id, last_hash = chain.lock_head(connection)
        end = local_to_utc(today, 18 * 3600)
        start = end - dt.timedelta(days=days)
        columns = ("id", *chain.FIELDS, "prev_hash", "row_hash")
        dbapi = connection.connection.driver_connection
        final_hash, final_id = last_hash, last_id
        with dbapi.cursor() as cursor, cursor.copy(
                f"COPY audit_log ({', '.join(columns)}) FROM STDIN") as copy:
            for number, values in enumerate(generate_rows(
                    rng, actors, rows, last_id + 1, last_hash, start,
                    (end - start).total_seconds())):
                copy.write_row(values)
                final_id, final_hash = values[0], values[-1]
                if progress and number % 100_000 == 0:
                    progress(number, rows)
        session.execute(chain.head_table.update().where(chain.head_table.c.id == chain.HEAD_ID)
                        .values(last_id=final_id, last_hash=final_hash))
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        _recreate_indexes(session, dropped)
        session.commit()
    _analyze_tables(session, ("audit_log",))
    return {"rows": rows, "first_id": last_id + 1, "last_id": final_id,
            "seconds": round(time.perf_counter() - started, 1)}
