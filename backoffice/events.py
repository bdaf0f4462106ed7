"""The event outbox: features raise events, consumers (automation rules, webhooks) handle them.

Why an outbox rather than calling consumers directly: the event row is written in the session of
the change that raised it, so it commits with that change or not at all, and consumers run later,
in a job, each in a transaction of its own that also records that it handled the event. A killed
worker therefore leaves either nothing (its transaction rolls back and the event is handled on the
next run) or both the effect and the "handled" row, never an effect twice.

The contract:

- ``declare(name, label, entity)`` at import of the raising feature (the label is shown on the
  rule screens);
- ``publish(session, name, entity=, entity_id=, ...)`` adds the row; ``(name, occurrence)`` is
  unique so a re-raised occurrence is stored once; nothing is written when no consumer wants it;
- ``subscribe(consumer, handler, wants, tables=(), after_dispatch=None)``:
  ``handler(session, event)`` must not commit; ``tables`` names the configuration tables whose
  rows decide what ``wants`` answers, so that its answers are cached per process while those
  tables are unchanged (see :func:`wanted`); ``after_dispatch()`` starts what the handler queued
  (a webhook's delivery) once the dispatch job has committed it;
- ``dispatch(session=None)`` runs every pending (consumer, event) pair once;
- ``kick()`` after a commit that published starts the dispatch job (at most once per request or
  job); a cron entry every minute is the safety net (``jobs.events_cron``);
- ``watch(model, entity)`` publishes ``record.created`` / ``record.changed`` with
  ``data = {"changed": {field: [old, new]}}``; a sensitive field (masked or deep-profile in
  ``backoffice.security.policy``, an encrypted column, a sensitive custom field) is named with
  the value ``None`` instead of its old and new values, so no value leaves through an event;
  a writer that bypasses the ORM (an import's bulk statements) describes its rows the same way
  with :class:`RowChanges` and publishes them with ``publish_rows``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import traceback
import uuid
from decimal import Decimal
from typing import Callable

from flask import current_app, g, has_app_context, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event as sa_event
from sqlalchemy import exists, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ColumnProperty

from models.base import utcnow
from models.events import DomainEvent, DomainEventHandled

log = logging.getLogger(__name__)

RECORD_CREATED = "record.created"
RECORD_CHANGED = "record.changed"
MAX_ATTEMPTS = 10  # a handler failing this often is left alone (its error stays on record)
BATCH = 500  # events per consumer and round
MAX_ROUNDS = 20  # rounds per dispatch: handlers may publish events handled in the next round
PUBLISHED_KEY = "crm_events_published"
_KICK_FLAG = "_crm_events_kick"
_SEALED = frozenset({"payload"})  # sealed documents (a change request's proposed values)
_NOISE = frozenset({"id", "created_at", "updated_at", "version", "record_uid", "status_changed_at"})


@dataclasses.dataclass(frozen=True)
class Declared:
    name: str
    label: object  # a lazy string
    entity: str


@dataclasses.dataclass(frozen=True)
class Consumer:
    name: str
    handler: Callable
    wants: Callable[[str], bool]
    tables: tuple[str, ...] = ()  # what ``wants`` reads: its answers are cached while unchanged
    after_dispatch: Callable[[], object] | None = None


_declared: dict[str, Declared] = {}
_consumers: dict[str, Consumer] = {}
_watched: dict[type, str] = {}
_starter: list[Callable[[], object]] = []


def declare(name: str, label, entity: str) -> None:
    """Name an event a feature raises (idempotent: modules may be imported again)."""
    _declared[name] = Declared(name, label, entity)


def declared() -> dict[str, Declared]:
    return dict(_declared)


# Record changes are the core's own events (every watched record type raises them), declared
# here so that a webhook can receive them; rules offer record triggers on their own form.
declare(RECORD_CREATED, _l("Record created"), "record")
declare(RECORD_CHANGED, _l("Record changed"), "record")


def subscribe(consumer: str, handler, wants, *, tables=(), after_dispatch=None) -> None:
    """Register ``handler(session, event)`` for the events ``wants(name)`` accepts.

    ``tables``: the tables ``wants`` reads (each with a counter in ``crm_config_version``);
    without them ``wants`` is asked on every call. ``after_dispatch()``: called by the dispatch
    job after its handlers' work is committed (:func:`after_dispatch`)."""
    _consumers[consumer] = Consumer(consumer, handler, wants, tuple(tables), after_dispatch)


def unsubscribe(consumer: str) -> None:
    """Remove a consumer (tests; a feature switched off)."""
    _consumers.pop(consumer, None)


def consumers() -> dict[str, Consumer]:
    return dict(_consumers)


def wanted(name: str) -> bool:
    """Whether any consumer wants events called ``name`` now.

    Called on every flush that touches a watched record, so the answers of consumers that name
    their tables are kept per process (:func:`_cached_wants`) instead of read from the rule and
    webhook tables each time."""
    cached = []
    for consumer in list(_consumers.values()):
        if consumer.tables:
            cached.append(consumer)
        elif _safe_wants(consumer, name):
            return True
    return bool(cached) and _cached_wants(name, cached)


# --- what the consumers want, per process ----------------------------------------------------
#
# Several processes serve the bank, and a rule or webhook switched on in one of them must count
# in all the others at once. The consumers' tables have counters in ``crm_config_version`` that a
# database trigger bumps in the writing transaction (migration ``0040_webhook_event_codes``), the
# way ``backoffice.config_cache`` keeps configuration: an answer is reused only while the counters
# it was read under are unchanged. In a request the counters are the ones the request read first
# (one small query shared with the other caches), read again after a flush of the request writes
# one of these tables; elsewhere (jobs, the CLI) they are read at each call, one small query
# instead of one per consumer. The counters are read before the consumers' own queries, so an
# answer may be newer than its counters (another process committed in between: it is right
# sooner, and replaced at the next counter), never older; this transaction's own uncommitted
# change is counted under a counter value that a rollback leaves to no one.

_WANTED_KEY = "crm_events_wanted"
_wanted_lock = threading.Lock()


def _cached_wants(name: str, cached: list[Consumer]) -> bool:
    tables = tuple(sorted({table for consumer in cached for table in consumer.tables}))
    stamp = _stamp(tables) if has_app_context() else None
    if stamp is None:  # no counters (a database before the migration): ask every time
        return any(_safe_wants(consumer, name) for consumer in cached)
    key = (tuple(consumer.name for consumer in cached), stamp)
    store = current_app.extensions.setdefault(_WANTED_KEY, {})
    answers = store.get(key)
    if answers is not None and name in answers:
        return answers[name]
    answer = any(_safe_wants(consumer, name) for consumer in cached)
    with _wanted_lock:
        answers = store.get(key)
        if answers is None:
            store.clear()  # older counters are never read again
            answers = store[key] = {}
        answers[name] = answer
    return answer


def _stamp(tables: tuple[str, ...]) -> tuple | None:
    """The counters of ``tables`` (None when one has no counter)."""
    from backoffice import config_cache

    counters = config_cache.versions() if has_request_context() else _read_counters(tables)
    stamp = tuple(counters.get(table) for table in tables)
    return None if any(value is None for value in stamp) else stamp


def _read_counters(tables: tuple[str, ...]) -> dict:
    from backoffice.extensions import db
    from models.config_version import ConfigVersion

    session = db.session
    with session.no_autoflush:
        rows = session.execute(select(ConfigVersion.name, ConfigVersion.version)
                               .where(ConfigVersion.name.in_(tables)),
                               execution_options={"crm_unscoped": True}).all()
    return {row[0]: row[1] for row in rows}


def consumer_tables() -> frozenset:
    """The tables some consumer's wishes are read from."""
    return frozenset(table for consumer in list(_consumers.values())
                     for table in consumer.tables)


def _noticed_consumer_writes(session) -> None:
    """A flush that writes a consumer's table (a rule or webhook saved in this request): the
    request reads the counters again, with this transaction's own change counted."""
    tables = consumer_tables()
    if not tables or not has_request_context():
        return
    for objects in (session.new, session.dirty, session.deleted):
        for obj in objects:
            if getattr(type(obj), "__tablename__", None) in tables:
                from backoffice import config_cache

                config_cache.forget_request()
                return


def publish(session, name: str, *, entity: str, entity_id: int | None,
            customer_id: int | None = None, branch_id: int | None = None,
            data: dict | None = None, occurrence: str | None = None) -> bool:
    """Add the event to ``session``'s transaction; False when nobody wanted it or it was there.

    Written with ``INSERT ... ON CONFLICT DO NOTHING`` on the session's connection, so a
    re-raised occurrence neither duplicates the row nor breaks the caller's transaction.
    """
    if not wanted(name):
        return False
    occurrence = occurrence or f"{entity}:{entity_id}:{uuid.uuid4().hex}"
    values = dict(name=name, entity=entity, entity_id=entity_id, customer_id=customer_id,
                  branch_id=branch_id, data=_plain(data or {}), occurrence=occurrence[:200],
                  created_at=utcnow())
    connection = session.connection()
    table = DomainEvent.__table__
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**values).on_conflict_do_nothing(
        index_elements=["name", "occurrence"]).returning(table.c.id)
    written = connection.execute(stmt).first() is not None
    if written:
        session.info[PUBLISHED_KEY] = True
    return written


def publish_rows(session, name: str, rows: list[dict]) -> int:
    """Set-based producers (nightly tiers, churn scoring): many occurrences of ``name`` in one
    statement; each row has ``entity``, ``entity_id``, ``occurrence`` and optionally
    ``customer_id``, ``branch_id`` and ``data``. Returns how many rows were new."""
    if not rows or not wanted(name):
        return 0
    connection = session.connection()
    table = DomainEvent.__table__
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    values = [dict(name=name, entity=row["entity"], entity_id=row.get("entity_id"),
                   customer_id=row.get("customer_id"), branch_id=row.get("branch_id"),
                   data=_plain(row.get("data") or {}), occurrence=str(row["occurrence"])[:200],
                   created_at=now) for row in rows]
    # The new rows' ids come back (RETURNING, in one statement per thousand rows): counting
    # the outbox's rows of ``name`` before and after cost two scans of an index that only
    # grows, per call (an import publishes once per chunk).
    statement = insert(table).on_conflict_do_nothing(
        index_elements=["name", "occurrence"]).returning(table.c.id)
    written = 0
    for start in range(0, len(values), 1000):
        written += len(connection.execute(statement, values[start:start + 1000]).all())
    if written:
        session.info[PUBLISHED_KEY] = True
    return written


def _plain(value):
    """JSON-safe copy of event data (dates as ISO text, decimals as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# --- dispatch --------------------------------------------------------------------------------


def dispatch(session=None) -> dict:
    """Run each consumer's handler once for each pending event it wants; return counts.

    Each (consumer, event) is claimed, handled and marked in one transaction: the claim is the
    ``domain_event_handled`` row (unique per consumer and event), so two workers racing for the
    same pair cannot both commit, and a worker killed midway commits nothing.
    """
    if session is None:
        from backoffice.extensions import db

        session = db.session
    counts = {"handled": 0, "failed": 0, "skipped": 0}
    for _round in range(MAX_ROUNDS):
        progressed = 0
        for consumer in list(_consumers.values()):
            for event_id in _pending(session, consumer):
                outcome = _handle_one(session, consumer, event_id)
                counts[outcome] += 1
                progressed += outcome == "handled"
        if not progressed:
            break
    if has_app_context():
        g.pop(_KICK_FLAG, None)  # this run handled what its handlers published
    return counts


def _pending(session, consumer: Consumer) -> list[int]:
    """Ids of events the consumer wants and has not handled (failures under the cap retried)."""
    handled = DomainEventHandled
    done = exists().where(
        handled.event_id == DomainEvent.id, handled.consumer == consumer.name,
        (handled.handled_at.is_not(None)) | (handled.attempts >= MAX_ATTEMPTS))
    options = {"crm_unscoped": True}
    names = session.execute(select(DomainEvent.name).where(~done).distinct(),
                            execution_options=options).scalars().all()
    names = [n for n in names if _safe_wants(consumer, n)]
    if not names:
        session.rollback()
        return []
    ids = session.execute(
        select(DomainEvent.id).where(DomainEvent.name.in_(names), ~done)
        .order_by(DomainEvent.id).limit(BATCH), execution_options=options).scalars().all()
    session.rollback()  # end the read transaction before each pair gets its own
    return list(ids)


def _safe_wants(consumer: Consumer, name: str) -> bool:
    try:
        return bool(consumer.wants(name))
    except Exception:  # noqa: BLE001
        log.exception("events: %s could not say whether it wants %s", consumer.name, name)
        return False


def _handle_one(session, consumer: Consumer, event_id: int) -> str:
    try:
        if not _claim(session, consumer.name, event_id):
            session.rollback()
            return "skipped"
        event = session.execute(select(DomainEvent).where(DomainEvent.id == event_id),
                                execution_options={"crm_unscoped": True}).scalar_one()
        consumer.handler(session, event)
        session.commit()
        return "handled"
    except IntegrityError:
        session.rollback()  # another worker claimed the pair first
        return "skipped"
    except Exception:  # noqa: BLE001 - recorded on the claim row and retried next time
        error = traceback.format_exc()
        session.rollback()
        log.warning("events: %s failed on event %s", consumer.name, event_id)
        _record_failure(session, consumer.name, event_id, error)
        return "failed"


def _claim(session, consumer: str, event_id: int) -> bool:
    """Take the pair for this transaction: a fresh claim row, or a failed one taken over."""
    handled = DomainEventHandled
    row = session.execute(select(handled.id, handled.handled_at, handled.attempts).where(
        handled.consumer == consumer, handled.event_id == event_id)).first()
    if row is None:
        session.add(handled(consumer=consumer, event_id=event_id, handled_at=utcnow(),
                            attempts=1))
        session.flush()  # the unique key decides a race here (PostgreSQL waits for the other)
        return True
    if row.handled_at is not None or row.attempts >= MAX_ATTEMPTS:
        return False
    taken = session.execute(
        update(handled).where(handled.id == row.id, handled.handled_at.is_(None),
                              handled.attempts == row.attempts)
        .values(handled_at=utcnow(), attempts=row.attempts + 1, error=None)
        .execution_options(synchronize_session=False))
    return taken.rowcount == 1


def _record_failure(session, consumer: str, event_id: int, error: str) -> None:
    handled = DomainEventHandled
    try:
        row = session.execute(select(handled).where(
            handled.consumer == consumer, handled.event_id == event_id)).scalar_one_or_none()
        if row is None:
            session.add(handled(consumer=consumer, event_id=event_id, attempts=1,
                                error=error[-4000:]))
        else:
            row.attempts = (row.attempts or 0) + 1
            row.handled_at, row.error = None, error[-4000:]
        session.commit()
    except Exception:  # noqa: BLE001 - the next run retries anyway
        session.rollback()
        log.exception("events: could not record the failure of %s on %s", consumer, event_id)


def failures(session, consumer: str | None = None) -> list[DomainEventHandled]:
    """Claim rows whose handler failed (newest first), for screens and tests."""
    stmt = select(DomainEventHandled).where(DomainEventHandled.handled_at.is_(None))
    if consumer:
        stmt = stmt.where(DomainEventHandled.consumer == consumer)
    return list(session.execute(stmt.order_by(DomainEventHandled.id.desc())).scalars())


def after_dispatch() -> None:
    """Let each consumer start what its handlers queued (the dispatch job calls this once its
    handlers' work is committed): under RQ no request follows the job to do it, and a delivery
    would otherwise wait for the minute's sweep."""
    for consumer in list(_consumers.values()):
        if consumer.after_dispatch is None:
            continue
        try:
            consumer.after_dispatch()
        except Exception:  # noqa: BLE001 - its own cron sweep is the safety net
            log.exception("events: %s could not start what it queued", consumer.name)


# --- starting the dispatch -------------------------------------------------------------------


def set_starter(start: Callable[[], object]) -> None:
    """How :func:`kick` starts the dispatch job (the app passes ``enqueue`` of it: the core
    does not import the jobs side)."""
    _starter[:] = [start]


def _after_commit(session) -> None:
    if session.info.pop(PUBLISHED_KEY, False) and has_app_context():
        g.setdefault(_KICK_FLAG, True)


def _after_rollback(session) -> None:
    session.info.pop(PUBLISHED_KEY, None)


def kick() -> bool:
    """Start the dispatch job if this request or job committed a published event (once)."""
    if not has_app_context() or not g.pop(_KICK_FLAG, False) or not _starter:
        return False
    try:
        _starter[0]()
        return True
    except Exception:  # noqa: BLE001 - the cron safety net dispatches later
        log.exception("events: could not start the dispatch job")
        return False


def install(app, session_factory, start: Callable[[], object] | None = None) -> None:
    """Session hooks (commit bookkeeping, record watching) and the after-request kick."""
    if start is not None:
        set_starter(start)
    for name, hook in (("after_commit", _after_commit), ("after_soft_rollback", None),
                       ("after_rollback", _after_rollback), ("after_flush", _after_flush)):
        if hook is not None and not sa_event.contains(session_factory, name, hook):
            sa_event.listen(session_factory, name, hook)

    @app.after_request
    def _kick_after_request(response):
        kick()
        return response


# --- record changes --------------------------------------------------------------------------


def watch(model_cls, entity: str) -> None:
    """Publish ``record.created`` / ``record.changed`` for ``model_cls`` rows (when wanted)."""
    _watched[model_cls] = entity


def watched() -> dict[type, str]:
    return dict(_watched)


def _after_flush(session, _context) -> None:
    _noticed_consumer_writes(session)
    if not _watched:
        return
    want_created = want_changed = None
    for kind, objects in ((RECORD_CREATED, session.new), (RECORD_CHANGED, session.dirty)):
        for obj in list(objects):
            entity = _watched.get(type(obj))
            if entity is None:
                continue
            if kind == RECORD_CREATED:
                if want_created is None:
                    want_created = wanted(RECORD_CREATED)
                if not want_created:
                    continue
            else:
                if want_changed is None:
                    want_changed = wanted(RECORD_CHANGED)
                if not want_changed:
                    continue
            changed = _changes(obj, entity, created=kind == RECORD_CREATED)
            if kind == RECORD_CHANGED and not changed:
                continue
            data = {"changed": changed}
            rule_id = session.info.get("crm_rule_id")
            if rule_id:
                data["rule_id"] = rule_id  # a rule's own change: it does not trigger itself
            customer_id = obj.id if entity == "customer" else getattr(obj, "customer_id", None)
            branch_id = getattr(obj, "branch_id", None) if entity == "customer" else None
            publish(session, kind, entity=entity, entity_id=_pk(obj), customer_id=customer_id,
                    branch_id=branch_id, data=data)


def _pk(obj):
    identity = inspect(obj).mapper.primary_key_from_instance(obj)
    return identity[0] if len(identity) == 1 else None


def _sensitive(entity: str, field: str) -> bool:
    from backoffice.security.masking import SENSITIVE_FIELDS
    from backoffice.security.policy import DEEP_PROFILE_FIELDS

    if field in SENSITIVE_FIELDS or field in _SEALED:
        return True
    return any(field in names for names in DEEP_PROFILE_FIELDS.values())


def _encrypted_logical(cls, key: str) -> str | None:
    """The logical field a storage column belongs to (``mobile_enc`` -> ``mobile``)."""
    for suffix in ("_enc", "_bidx"):
        if key.endswith(suffix) and hasattr(cls, key[: -len(suffix)]):
            return key[: -len(suffix)]
    return None


def _field_of(cls, entity: str, key: str) -> tuple[str, str]:
    """How a column shows in change data: ``("sealed", field)`` for an encrypted field's
    storage column, ``("custom", key)`` for the custom-field document, ``("sensitive", key)``
    for a masked or deep-profile field, else ``("plain", key)``."""
    logical = _encrypted_logical(cls, key)
    if logical is not None:
        return "sealed", logical
    if key == "custom_fields":
        return "custom", key
    if _sensitive(entity, key):
        return "sensitive", key
    return "plain", key


def _changes(obj, entity: str, created: bool) -> dict:
    state = inspect(obj)
    changes: dict = {}
    for prop in state.mapper.iterate_properties:
        if not isinstance(prop, ColumnProperty) or prop.key in _NOISE:
            continue
        key = prop.key
        history = state.attrs[key].history
        if created:
            new = history.added[0] if history.added else getattr(obj, key, None)
            old = None
            if new is None:
                continue
        else:
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
        kind, name = _field_of(type(obj), entity, key)
        if kind == "custom":
            changes.update(_custom_changes(entity, old or {}, new or {}))
        elif kind == "plain":
            changes[name] = [_plain(old), _plain(new)]
        else:
            changes[name] = None
    return changes


class RowChanges:
    """The ``changed`` data of rows written without the ORM (set-based writers: an import's
    bulk INSERT and UPDATE), the same as a flushed object's (:func:`_changes`): ``describe(
    before, after)`` with each row's column values before (None: a new row) and after, in
    storage form (an encrypted field's ciphertext columns, the custom-field document).

    Why a class: what each column is (sealed, sensitive, custom, plain) and whether a custom
    key is sensitive is decided once per column and key, not once per row, for writers that
    describe ten thousand rows at a time (outside a request the custom-field catalogue is read
    from the database on every call).
    """

    def __init__(self, model_cls, entity: str):
        self.cls, self.entity = model_cls, entity
        self._fields: dict[str, tuple[str, str] | None] = {}
        self._custom: dict[str, bool] = {}

    def __call__(self, before: dict | None, after: dict) -> dict:
        changes: dict = {}
        for key, new in after.items():
            field = self._fields.get(key, False)
            if field is False:
                field = self._fields[key] = (None if key in _NOISE
                                             else _field_of(self.cls, self.entity, key))
            if field is None:
                continue
            if before is None:
                if new is None:
                    continue
                old = None
            else:
                old = before.get(key)
                if _plain(old) == _plain(new):  # "before" may be JSON-safe already
                    continue
            kind, name = field
            if kind == "custom":
                changes.update(_custom_changes(self.entity, old or {}, new or {},
                                               self._custom))
            elif kind == "plain":
                changes[name] = [_plain(old), _plain(new)]
            else:
                changes[name] = None
        return changes


def _custom_changes(entity: str, before: dict, after: dict,
                    known: dict | None = None) -> dict:
    """Custom fields key by key as ``custom_fields.<key>``; a sensitive one by name only.
    ``known``: key -> sensitive, remembered across calls (:class:`RowChanges`)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return {}
    from backoffice.security.masking import custom_field_kind

    out = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        sensitive = known.get(key) if known is not None else None
        if sensitive is None:
            try:
                sensitive = custom_field_kind(key, entity) is not None
            except Exception:  # noqa: BLE001 - unknown: named, not shown
                sensitive = True
            if known is not None:
                known[key] = sensitive
        out[f"custom_fields.{key}"] = None if sensitive else [
            _plain(before.get(key)), _plain(after.get(key))]
    return out
