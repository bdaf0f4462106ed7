"""Changing the type or choices of a field with 10,000 stored values: all or nothing.

Runs on the session's database (SQLite locally, PostgreSQL when ``CRM_TEST_DATABASE_URL`` points
at one, as in CI).
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from backoffice.fields import changes
from backoffice.fields.registry import spec_of
from models import Customer
from tests.fields.conftest import unique_key

N = 10_000


def stored(db_session, ids, key):
    rows = db_session.execute(select(Customer.id, Customer.custom_fields)
                              .where(Customer.id.in_(ids))).all()
    return {cid: (doc or {}).get(key) for cid, doc in rows}


def test_convertible_type_change_converts_every_value(scratch_customers, definitions,
                                                      db_session):
    key = unique_key("cf_score")
    definition = definitions(key=key, field_type="text")
    ids = scratch_customers([{key: f" {n % 500} "} for n in range(N)])
    report = changes.change_field(definition, db_session, field_type="integer")
    assert report.total >= N and report.ok and len(report.updates) >= N
    values = stored(db_session, ids, key)
    assert all(values[cid] == n % 500 for n, cid in enumerate(ids))
    assert all(type(values[cid]) is int for cid in ids)
    db_session.refresh(definition)
    assert definition.field_type == "integer"


def test_unconvertible_values_refuse_the_change_and_change_nothing(scratch_customers,
                                                                   definitions, db_session):
    key = unique_key("cf_code")
    definition = definitions(key=key, field_type="text")
    documents = [{key: str(n)} for n in range(N)]
    bad_positions = [17, 4242, 9999]
    for position in bad_positions:
        documents[position] = {key: f"N/A-{position}"}
    ids = scratch_customers(documents)
    before = stored(db_session, ids, key)
    with pytest.raises(changes.ChangeRefused) as refused:
        changes.change_field(definition, db_session, field_type="integer")
    report = refused.value.report
    assert len(report.failures) == 3
    assert report.failed_ids == [ids[p] for p in bad_positions]
    message = refused.value.errors["field_type"]
    assert "3" in message and str(ids[4242]) in message
    db_session.expire_all()
    assert stored(db_session, ids, key) == before
    assert db_session.get(type(definition), definition.id).field_type == "text"


def test_removing_a_choice_in_use_is_refused_and_keeping_it_converts(scratch_customers,
                                                                     definitions, db_session):
    key = unique_key("cf_level")
    choices = [{"value": v, "label_zh": v, "label_en": v, "order": i}
               for i, v in enumerate(["a", "b", "c"])]
    definition = definitions(key=key, field_type="choice", choices=choices)
    ids = scratch_customers([{key: "abc"[n % 3]} for n in range(30)])
    with pytest.raises(changes.ChangeRefused) as refused:
        changes.change_field(definition, db_session, choices=choices[:2])
    assert len(refused.value.report.failures) == 10
    report = changes.change_field(definition, db_session, field_type="multi_choice")
    assert report.ok
    assert stored(db_session, ids, key)[ids[1]] == ["b"]


def test_making_a_field_sensitive_encrypts_every_value_bound_to_its_record(
        scratch_customers, definitions, db_session):
    from backoffice.fields.values import from_storage

    key = unique_key("cf_secret")
    definition = definitions(key=key, field_type="text")
    ids = scratch_customers([{key: f"秘密{n}"} for n in range(50)])
    changes.change_field(definition, db_session, sensitive=True)
    spec = spec_of(definition)
    rows = db_session.execute(select(Customer.id, Customer.record_uid, Customer.custom_fields)
                              .where(Customer.id.in_(ids)).order_by(Customer.id)).all()
    for n, (_cid, uid, doc) in enumerate(rows):
        assert doc[key].startswith("v1.") and "秘密" not in doc[key]
        assert from_storage(spec, doc[key], uid) == f"秘密{n}"
