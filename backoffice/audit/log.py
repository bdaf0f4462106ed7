"""``record(...)``: the one way anything in the back office writes to the operation log.

Where the row goes depends on what the caller's session is doing:

* the session has written in its current transaction (or has changes pending): the row joins
  that transaction, so the log says exactly what was committed, and nothing if it rolled back;
* otherwise (reads, logins, exports): the row is written and committed at once on a connection
  of its own, so it survives whatever the request does next and holds the chain lock briefly.

Actor, roles, IP and user agent come from the request when there is one. ``detail`` must be a
JSON-serialisable dict. Callers mask what they know to be sensitive, and ``build_row`` (which
every writer goes through) redacts again by field name and by value shape
(``backoffice.audit.redact``): a search box, a filter argument or a free-text reason that holds
an ID number, a mobile, an e-mail, an address or an account number is stored masked, so the log
never holds such a value in full whatever a caller forgot.
"""
from __future__ import annotations

from flask import has_app_context, has_request_context

from backoffice.security.current import current_user
from backoffice.audit import chain, redact
from models.base import utcnow

MAX_TEXT = {"actor_username": 128, "actor_roles": 255, "ip": 45, "user_agent": 255,
            "action": 32, "entity": 64, "entity_id": 64}
DIRTY_KEY = "crm_audit_wrote"


def record(action, *, entity=None, entity_id=None, customer_id=None, detail=None, actor=None):
    """Append one row to the operation log and return it (a dict with ``id`` and ``row_hash``).

    ``actor`` may be a user object, a username (e.g. for a failed login by an unknown name) or
    None for the request's signed-in user (or nobody, in the CLI and jobs).
    """
    row = build_row(action, entity=entity, entity_id=entity_id, customer_id=customer_id,
                    detail=detail, actor=actor)
    return write([row])[0]


def build_row(action, *, entity=None, entity_id=None, customer_id=None, detail=None,
              actor=None, occurred_at=None) -> dict:
    """The row's fields (not yet chained, already redacted): who, from where, what, on which
    record."""
    row = {
        "occurred_at": occurred_at or utcnow(),
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "customer_id": None if customer_id is None else int(customer_id),
        "detail": (chain.canonical_json(redact.redact(detail))
                   if detail is not None else None),
    }
    row.update(actor_fields(actor))
    row.update(request_fields())
    for name in redact.TEXT_COLUMNS:  # typed by someone: a mobile as a user name, say
        if isinstance(row.get(name), str):
            row[name] = redact.redact_text(row[name])
    for name, size in MAX_TEXT.items():
        if isinstance(row.get(name), str) and len(row[name]) > size:
            row[name] = row[name][:size]
    return row


def actor_fields(actor=None) -> dict:
    """actor_id, actor_username and actor_roles for a user, a username, or the current user."""
    if actor is None:
        actor = current_user()
    if actor is None:
        return {"actor_id": None, "actor_username": None, "actor_roles": None}
    if isinstance(actor, str):
        return {"actor_id": None, "actor_username": actor, "actor_roles": None}
    try:
        roles = ",".join(sorted(role.name for role in (getattr(actor, "roles", None) or [])))
    except Exception:  # noqa: BLE001 - a detached user: who it was matters more than roles
        roles = None
    return {
        "actor_id": getattr(actor, "id", None),
        "actor_username": getattr(actor, "username", None),
        "actor_roles": roles or None,
    }


def request_fields() -> dict:
    if not has_request_context():
        return {"ip": None, "user_agent": None}
    from flask import request

    return {"ip": request.remote_addr, "user_agent": request.headers.get("User-Agent") or None}


def write(rows: list[dict]) -> list[dict]:
    """Chain and insert built rows, in the session's transaction or in one of their own."""
    from backoffice.extensions import db

    if not has_app_context():
        raise RuntimeError("the operation log needs an application context")
    session = db.session()
    if _session_has_written(session):
        return chain.append(session.connection(), rows)
    with db.engine.connect() as connection:
        inserted = chain.append(connection, rows)
        connection.commit()
    return inserted


def record_at_request_end(action, **fields) -> dict:
    """:func:`record` for a read the request has finished making (the response is built).

    A read request's own transaction holds nothing but reads by now, so the row goes in on the
    request's connection and that transaction commits: the same row, committed at the same
    moment, without a second connection's checkout, its ``BEGIN`` and the request's closing
    ``ROLLBACK``. The session keeps its objects as they are (nothing reads them afterwards that
    should see them reloaded). A request that has written goes through :func:`write` as before.
    """
    from backoffice.extensions import db

    row = build_row(action, **fields)
    session = db.session()
    if _session_has_written(session):
        return write([row])[0]
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        inserted = chain.append(session.connection(), [row])
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = keep
    return inserted[0]


def _session_has_written(session) -> bool:
    """True when the session's transaction holds (or is about to hold) uncommitted writes.

    Then a second connection could not write (SQLite's write lock, PostgreSQL's head row lock
    may be ours already), and the row belongs with those writes anyway.
    """
    if session.new or session.deleted or any(session.is_modified(o) for o in session.dirty):
        if not getattr(session, "_flushing", False):
            session.flush()
        return True
    return session.in_transaction() and bool(session.info.get(DIRTY_KEY))


def install_session_tracking(session_factory) -> None:
    """Remember, per session transaction, whether it has flushed anything (attached once)."""
    from sqlalchemy import event

    if not event.contains(session_factory, "after_flush", _flushed):
        event.listen(session_factory, "after_flush", _flushed)
        event.listen(session_factory, "after_transaction_end", _transaction_ended)


def _flushed(session, _context):
    session.info[DIRTY_KEY] = True


def _transaction_ended(session, transaction):
    if transaction.parent is None:
        session.info.pop(DIRTY_KEY, None)
