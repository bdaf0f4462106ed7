"""Per-process caches of what derives from configuration tables, valid across processes.

Several processes serve one bank (gunicorn workers, machines, DESIGN §2), so a cache may not
assume it sees every write. Each configuration table has a counter in ``crm_config_version``
that a database trigger bumps in the writing transaction (``models.config_version``); a request
reads all counters once (one small query) and an entry here is used only while the counters of the
tables it was built from are unchanged. An admin's new custom field or branch therefore shows on
the next request in every process, whoever wrote it (a screen, an import, SQL by hand).

Values are shared by all requests of the process: build immutable things (tuples, frozen
dataclasses) or copy before changing them. Outside a request (jobs, the CLI) nothing is cached.
A request that has written configuration itself (its counters are uncommitted and may roll
back) does not store what it builds.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from flask import g, has_request_context
from sqlalchemy import String, cast, func, select

from backoffice.security import user_load

_VERSIONS = "_crm_config_versions"
_DIRTY = "_crm_config_written"
_MAX_ENTRIES = 512

_lock = threading.Lock()


def _store() -> dict[tuple, tuple[tuple, Any]]:
    """The entries of the current app: each app has its database (tests run several apps, on
    databases or schemas of their own, in one process), so entries never cross apps."""
    from flask import current_app

    return current_app.extensions.setdefault("crm_config_cache", {})


def versions() -> dict[str, int]:
    """The configuration counters as this request first read them (outside a request: now)."""
    if not has_request_context():
        return _read()[0]
    found = g.get(_VERSIONS)
    if found is None:
        counters, clean = _read_with_user() or _read()
        found = counters
        g.setdefault(_VERSIONS, found)
        if not clean:
            g.setdefault(_DIRTY, True)
    return found


def _read() -> tuple[dict[str, int], bool]:
    """(counters, whether this transaction has written nothing yet)."""
    from backoffice.extensions import db
    from models.config_version import ConfigVersion

    session = db.session
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = [ConfigVersion.name, ConfigVersion.version]
    if postgres:  # a transaction id is assigned at its first write
        columns.append(func.txid_current_if_assigned().is_(None))
    with session.no_autoflush:
        rows = session.execute(select(*columns),
                               execution_options={"crm_unscoped": True}).all()
    clean = all(row[2] for row in rows) if postgres else True
    return {row[0]: row[1] for row in rows}, clean


def _counters_column(user_id, dialect: str):
    """The counters as one text (``name:version,...``), selected with the request's user."""
    from models.config_version import ConfigVersion

    pair = ConfigVersion.name + ":" + cast(ConfigVersion.version, String)
    return select(func.aggregate_strings(pair, ",")).scalar_subquery()


def _clean_column(user_id, dialect: str):
    """Whether the transaction had written nothing when the user was loaded (PostgreSQL)."""
    if dialect != "postgresql":
        return None
    return func.txid_current_if_assigned().is_(None)


user_load.read_with_user("config_counters", _counters_column)
user_load.read_with_user("config_clean", _clean_column)


def _read_with_user() -> tuple[dict[str, int], bool] | None:
    """The counters the request's user load read with the user, if it did."""
    text = user_load.loaded("config_counters")
    if text is user_load.MISSING:
        return None
    clean = user_load.loaded("config_clean")
    counters = {}
    for pair in (text or "").split(","):
        name, _, version = pair.rpartition(":")
        if name:
            counters[name] = int(version)
    return counters, clean is user_load.MISSING or bool(clean)


def forget_request() -> None:
    """This request wrote configuration: re-read the counters, and store nothing it builds."""
    if has_request_context():
        user_load.forget("config_counters")
        g.pop(_VERSIONS, None)
        g._crm_config_written = True


def cached(name: str, tables: tuple[str, ...], build: Callable[[], Any], key=()) -> Any:
    """``build()``, or what it returned earlier in this process while ``tables`` were unchanged.

    ``name`` and ``key`` (hashable: a locale, role names) identify the entry.
    """
    if not has_request_context():
        return build()
    counters = versions()
    stamp = tuple(counters.get(table) for table in tables)
    entry = (name, key)
    store = _store()
    hit = store.get(entry)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = build()
    if not g.get(_DIRTY):
        with _lock:
            if len(store) >= _MAX_ENTRIES:
                store.clear()
            store[entry] = (stamp, value)
    return value


def clear() -> None:
    """Drop every entry of the current app (tests that rebuild the database under it)."""
    with _lock:
        _store().clear()
