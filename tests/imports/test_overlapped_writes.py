"""A customer import on PostgreSQL writes each chunk on a thread of its own while the next
chunk is planned (``pipeline.ChunkWriter``, planning reads through a second session): the
outcome must be the one of the plain one-chunk-after-another pass, a failed write must fail the
batch as before, and the cyclic garbage collector is paused for the pass only.
"""
from __future__ import annotations

import gc
import re
import threading
import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.imports import pipeline, writes
from backoffice.imports.customers_target import CustomerTarget
from models import Customer
from tests.imports.conftest import count, csv_bytes
from tests.imports.test_custom_field_rules import run
from tests.imports.test_same_customer import MAPPING, fresh_ids

UNSCOPED = {"crm_unscoped": True}


def needs_postgresql():
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the writes overlap the planning on PostgreSQL only")


def writer_threads(monkeypatch) -> list[str]:
    """The names of the threads the chunks were written on."""
    names: list[str] = []
    apply = CustomerTarget.apply

    def recording(self, plan):
        names.append(threading.current_thread().name)
        return apply(self, plan)

    monkeypatch.setattr(CustomerTarget, "apply", recording)
    return names


def scenario(prefix: str, ids: list[str]) -> tuple[list, list]:
    """Existing customers, and a file mixing new, updated, unchanged and rejected rows whose
    problems span chunks of three (in-file duplicates, the same customer twice, a missing
    branch, a bad check digit)."""
    existing = [[f"{prefix}03", "旧三", ids[2], "B1"], [f"{prefix}04", "旧四", ids[3], "B1"],
                [f"{prefix}10", "旧十", ids[9], "B1"]]
    bad_id = ids[4][:17] + ("0" if ids[4][17] != "0" else "1")
    file_rows = [
        [f"{prefix}01", "新一", ids[0], "B1"],
        [f"{prefix}02", "新二", ids[1], "B1"],
        [f"{prefix}03", "改三", ids[2], "B1"],  # update
        [f"{prefix}04", "旧四", ids[3], "B1"],  # unchanged
        [f"{prefix}05", "坏五", bad_id, "B1"],  # rejected: check digit
        [f"{prefix}01", "重一", "", "B1"],  # rejected: same number as row 2
        [f"{prefix}07", "冒三", ids[2], "B1"],  # rejected: ID of row 4's customer
        [f"{prefix}08", "新八", ids[7], "B1"],
        [f"{prefix}09", "无行", ids[8], "NOPE"],  # rejected: no such branch
        ["", "十号", ids[9], "B1"],  # update found by ID number only
        [f"{prefix}11", "新十一", ids[10], "B1"],
    ]
    return existing, file_rows


def outcome(prefix: str, ids: list[str], summary: dict, report: list) -> dict:
    """What a run did, with the run's own prefix and ID numbers replaced by placeholders."""

    def neutral(cell) -> str:
        text = str(cell).replace(prefix, "P")
        for index, number in enumerate(ids):  # the number, or it with a wrong check digit
            text = re.sub(re.escape(number[:17]) + "[0-9X]", f"ID{index}", text)
        return text

    stored = db.session.execute(select(Customer.customer_no, Customer.name, Customer.version)
                                .where(Customer.customer_no.like(f"{prefix}%"))
                                .execution_options(**UNSCOPED)).all()
    return {"counts": {k: summary[k] for k in ("status", "created", "updated", "unchanged",
                                               "rejected")},
            "report": [[neutral(cell) for cell in row] for row in report],
            "customers": sorted((no.replace(prefix, "P"), name, version)
                                for no, name, version in stored)}


@pytest.mark.parametrize("mode", ["atomic", "skip_bad"])
def test_overlapped_pass_equals_the_sequential_one(imports, chunk_size, monkeypatch,
                                                   mode):
    needs_postgresql()
    results, threads = {}, {}
    for overlapped in (True, False):
        prefix, ids = f"O{uuid.uuid4().hex[:6]}", fresh_ids(11)
        existing, file_rows = scenario(prefix, ids)
        chunk_size(None)
        assert run(csv_bytes(list(MAPPING), existing), "customers", "atomic",
                   MAPPING)[0]["created"] == 3
        chunk_size(3)
        with monkeypatch.context() as patch:
            if not overlapped:
                patch.setattr(pipeline, "OVERLAPPED", {})
            names = writer_threads(patch)
            summary, report = run(csv_bytes(list(MAPPING), file_rows), "customers", mode,
                                  MAPPING)
        results[overlapped] = outcome(prefix, ids, summary, report)
        threads[overlapped] = set(names)
    assert threads == {True: {"import-writer"}, False: {"MainThread"}}
    assert results[True] == results[False]
    expected_rejected = 4
    if mode == "atomic":
        assert results[True]["counts"]["status"] == "failed"
        assert results[True]["counts"]["rejected"] == expected_rejected
        assert [no for no, *_ in results[True]["customers"]] == ["P03", "P04", "P10"]
    else:
        assert results[True]["counts"] == {"status": "committed", "created": 4, "updated": 2,
                                           "unchanged": 1, "rejected": expected_rejected}
        assert ("P03", "改三", 2) in results[True]["customers"]
        assert ("P10", "十号", 2) in results[True]["customers"]


@pytest.mark.parametrize("mode", ["atomic", "skip_bad"])
def test_a_failed_write_fails_the_batch(imports, chunk_size, monkeypatch, mode):
    """A write that fails on the writer's thread (here the second chunk meets a customer
    changed since it was planned) reaches the pass: the batch fails with its message, atomic
    mode keeps nothing, skip-bad keeps the chunk committed before."""
    needs_postgresql()
    prefix = f"F{uuid.uuid4().hex[:6]}"
    rows = [[f"{prefix}{i:02d}", f"写{i}", identifier, "B1"]
            for i, identifier in enumerate(fresh_ids(9))]
    calls = []
    apply = CustomerTarget.apply

    def failing(self, plan):
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise writes.ConcurrentEdit("1 customer rows changed while the import ran")
        return apply(self, plan)

    monkeypatch.setattr(CustomerTarget, "apply", failing)
    chunk_size(3)
    summary, _ = run(csv_bytes(list(MAPPING), rows), "customers", mode, MAPPING)
    assert summary["status"] == "failed"
    assert summary["message"] == "导入过程中记录被他人修改，未再写入任何数据。请重新运行。"
    assert set(calls) == {"import-writer"}
    kept = count(Customer, Customer.customer_no.like(f"{prefix}%"))
    assert kept == (0 if mode == "atomic" else 3)


def test_cycle_collector_paused_for_the_pass_only(imports, monkeypatch):
    seen = []
    plan = CustomerTarget.plan

    def recording(self, results):
        seen.append(gc.isenabled())
        return plan(self, results)

    monkeypatch.setattr(CustomerTarget, "plan", recording)
    prefix = f"G{uuid.uuid4().hex[:6]}"
    assert gc.isenabled()
    summary, _ = run(csv_bytes(list(MAPPING), [[f"{prefix}1", "收", "", "B1"]]), "customers",
                     "atomic", MAPPING)
    assert summary["created"] == 1 and seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with pipeline.no_cycle_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_a_pass_leaves_no_keys_for_the_cycle_collector(imports, chunk_size):
    """With the collector paused, what only reference cycles hold stays until the pass ends:
    a lookup's keys must travel as execution parameters, not inside its statement's objects
    (which reference each other): a million-row import kept 74 MiB of old keys that way.

    Only parameters holding this file's own keys (its customer numbers) count: statements of
    earlier tests (another app's engine, a job's run) can become cyclic garbage during the
    pass too, and did (the greetings crash test's occasion code, run just before in the suite).
    """
    from sqlalchemy.sql.elements import BindParameter

    prefix = f"K{uuid.uuid4().hex[:6]}"
    rows = [[f"{prefix}{i:03d}", f"键{i}", identifier, "B1"]
            for i, identifier in enumerate(fresh_ids(40))]
    chunk_size(10)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        summary, _ = run(csv_bytes(list(MAPPING), rows), "customers", "atomic", MAPPING)
        gc.collect()
        held = [o.value for o in gc.garbage if isinstance(o, BindParameter)
                and isinstance(o.value, (list, tuple, set, str)) and len(o.value) >= 10
                and prefix in repr(o.value)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert summary["created"] == 40
    assert held == []
