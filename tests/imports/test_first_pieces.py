"""A pass cuts its first chunk into smaller pieces (``pipeline.ramped``), so that the writing
starts sooner: every row still comes once, in the file's order, and the outcome is the one of
whole chunks."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.imports import pipeline
from backoffice.imports.customers_target import CustomerTarget
from models import Customer
from tests.imports.conftest import csv_bytes
from tests.imports.test_custom_field_rules import run
from tests.imports.test_same_customer import MAPPING


def sizes(chunks) -> list[int]:
    return [len(chunk) for chunk in chunks]


def test_the_first_chunk_goes_in_a_tenth_a_fifth_and_the_rest():
    chunks = [list(range(10_000)), list(range(10_000, 20_000)), list(range(20_000, 25_000))]
    pieces = list(pipeline.ramped(chunks))
    assert sizes(pieces) == [1_000, 2_000, 7_000, 10_000, 5_000]
    assert [row for piece in pieces for row in piece] == list(range(25_000))


@pytest.mark.parametrize("first, expected", [([], []), (list(range(999)), [999]),
                                             (list(range(1000)), [100, 200, 700]),
                                             (list(range(1005)), [100, 201, 704])])
def test_small_first_chunks(first, expected):
    assert sizes(pipeline.ramped([first] if first else [])) == expected
    assert [row for piece in pipeline.ramped([first]) for row in piece] == first


def test_an_import_plans_and_writes_the_pieces(imports, chunk_size, monkeypatch):
    planned = []
    plan = CustomerTarget.plan

    def recording(self, results):
        planned.append(len(results))
        return plan(self, results)

    monkeypatch.setattr(CustomerTarget, "plan", recording)
    prefix = f"R{uuid.uuid4().hex[:6]}"
    rows = [[f"{prefix}{i:04d}", f"片{i}", "", "B1"] for i in range(1_030)]
    chunk_size(1_000)
    summary, _ = run(csv_bytes(list(MAPPING), rows), "customers", "atomic", MAPPING)
    assert planned == [100, 200, 700, 30]
    assert (summary["status"], summary["created"], summary["rejected"]) == ("committed",
                                                                            1_030, 0)
    stored = db.session.scalars(select(Customer.customer_no).where(
        Customer.customer_no.like(f"{prefix}%")).execution_options(crm_unscoped=True)).all()
    assert sorted(stored) == [row[0] for row in rows]
