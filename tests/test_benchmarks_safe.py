"""Benchmarks never overwrite a database holding customers they did not load.

Each benchmark that rebuilds a schema or writes data is pointed at a SQLite file holding one
customer with a unique marker name and no benchmark marker table: it must stop with its message
before writing, and the customer must still be there. The guard's own rules are checked both
ways (an empty database and one a benchmark marked are accepted) so the refusals mean something.
"""
from __future__ import annotations

import argparse
import uuid

import pytest
from sqlalchemy import create_engine, text

from benchmarks import _safety


@pytest.fixture()
def bank(tmp_path, monkeypatch):
    """A SQLite database holding one real-looking customer; returns (url, marker name)."""
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "unused.sqlite3"))
    url = f"sqlite:///{tmp_path / 'bank.sqlite3'}"
    name = f"KEEP-{uuid.uuid4().hex}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO customer (name) VALUES (:n)"), {"n": name})
    engine.dispose()
    return url, name


def _still_there(url: str, name: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = {row[0] for row in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
            names = [row[0] for row in conn.execute(text("SELECT name FROM customer"))]
    finally:
        engine.dispose()
    return names == [name] and tables == {"customer"}


def _segments(url):
    from benchmarks import segments_refresh

    segments_refresh.build_app(url)


def _segments_reuse(url):
    from benchmarks import segments_refresh

    segments_refresh.build_app(url, reuse=True)


def _churn_training(url):
    from benchmarks import churn_training

    churn_training.build_app(url)


def _request_overhead(url):
    from benchmarks import request_overhead

    request_overhead.build_app(url)


def _greetings(url):
    from benchmarks import greetings_dispatch

    greetings_dispatch.reset(url)


def _custom_field_filter(url):
    from benchmarks import custom_field_filter

    custom_field_filter.ensure_database(url)


def _import_speed(url):
    from benchmarks import import_speed

    import_speed.make_app(url)


def _screens(url):
    from benchmarks import screens

    screens.build_app(argparse.Namespace(instance_path=None, database_url=url, customers=10,
                                         tx_per_month=1, log_rows=0, password="x"))


# churn_scoring.py loads through segments_refresh.build_app (the first two cases).
REBUILDERS = [_segments, _segments_reuse, _churn_training, _request_overhead, _greetings,
              _custom_field_filter, _import_speed, _screens]


@pytest.mark.parametrize("prepare", REBUILDERS, ids=lambda f: f.__name__.strip("_"))
def test_benchmark_refuses_a_database_with_customers(bank, prepare, capsys):
    url, name = bank
    with pytest.raises(SystemExit) as stopped:
        prepare(url)
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert "refusing" in message and "1 customers" in message and _safety.MARKER_TABLE in message
    assert _still_there(url, name)


def test_guard_accepts_what_a_benchmark_marked_or_an_empty_database(bank, tmp_path):
    url, _name = bank
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    _safety.check_disposable(empty)  # no customer table: nothing to lose
    with pytest.raises(_safety.UnsafeDatabase):
        _safety.check_disposable(url)
    _safety.mark(url)
    _safety.check_disposable(url)  # marked: a benchmark loaded these, a rerun may empty them


def test_no_default_database(monkeypatch, capsys):
    monkeypatch.delenv(_safety.ENV_NAME, raising=False)
    with pytest.raises(SystemExit) as stopped:
        _safety.database_url(None)
    assert stopped.value.code == _safety.NO_DATABASE_STATUS
    assert "--database-url" in capsys.readouterr().err
    monkeypatch.setenv(_safety.ENV_NAME, "sqlite:///x.db")
    assert _safety.database_url(None) == "sqlite:///x.db"
    assert _safety.database_url("sqlite:///given.db") == "sqlite:///given.db"
