"""Key rotation also re-seals the sensitive values kept inside JSON documents.

A sensitive custom field's value is sealed on its own inside ``custom_fields`` (customers,
interactions), archived fields keep their data, and a change request's payload carries such
sealed values: after ``keys.rotate`` and removing the old key from the ring, all of them must
still open (otherwise retiring a key loses data). Runs on a bare engine per backend, like
``test_key_rotation``.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from backoffice.fields.registry import spec_of
from backoffice.fields.values import from_storage, to_storage
from backoffice.security import keys
from models import Branch, Customer, crypto
from models.crypto import KeyRing
from models.fields import CustomFieldDefinition
from models.org import Staff
from models.review import ChangeRequest
from models.service import Interaction
from tests.security import test_key_rotation
from tests.support.world import make_prc_id

engine = test_key_rotation.engine  # the per-backend fixture (SQLite, PostgreSQL)
STAMP = dt.datetime(2024, 5, 6, 7, 8, 9)


def _definition(session, entity, key, sensitive=True, status="active"):
    definition = CustomFieldDefinition(entity=entity, key=key, label_zh=key, label_en=key,
                                       field_type="text", sensitive=sensitive, status=status)
    session.add(definition)
    session.flush()
    return spec_of(definition)


def fill(engine, ring: KeyRing) -> dict:
    """One customer with a live, an archived and a non-sensitive value; one interaction with a
    sensitive value; a pending update and a pending creation request each carrying one."""
    with crypto.using_keyring(ring), Session(engine) as session:
        specs = {
            "secret": _definition(session, "customer", "secret_note"),
            "old": _definition(session, "customer", "old_secret", status="archived"),
            "plain": _definition(session, "customer", "plain_note", sensitive=False),
            "visit": _definition(session, "interaction", "visit_secret"),
        }
        branch = Branch(code=f"R{uuid.uuid4().hex[:6]}", name="轮换支行")
        maker = Staff(first_name="轮", last_name="换", username=f"m{uuid.uuid4().hex[:8]}",
                      email=f"{uuid.uuid4().hex[:8]}@example.com", active=True)
        session.add_all([branch, maker])
        session.flush()
        customer = Customer(customer_no="KC00000001", name="轮换客户", branch_id=branch.id,
                            status="active", id_number=make_prc_id(dt.date(1980, 1, 1), 7),
                            custom_fields={}, updated_at=STAMP)
        session.add(customer)
        session.flush()
        uid = customer.record_uid
        customer.custom_fields = {
            "secret_note": to_storage(specs["secret"], "客户机密", uid),
            "old_secret": to_storage(specs["old"], "归档机密", uid),
            "plain_note": to_storage(specs["plain"], "公开备注"),
        }
        interaction = Interaction(customer_id=customer.id, channel="phone", topic="service",
                                  summary="回访", direction="outbound", custom_fields={})
        session.add(interaction)
        session.flush()
        interaction.custom_fields = {
            "visit_secret": to_storage(specs["visit"], "走访机密", str(interaction.id))}
        session.flush()
        update_request = ChangeRequest(entity="customer", kind="update", status="pending",
                                       customer_id=customer.id, branch_id=branch.id,
                                       base_version=customer.version, maker_id=maker.id)
        update_request.values = {"custom_fields": {
            "secret_note": to_storage(specs["secret"], "提议修改", uid),
            "plain_note": "公开备注"}}
        create_uid = crypto.new_record_uid()
        create_request = ChangeRequest(entity="customer", kind="create", status="pending",
                                       branch_id=branch.id, maker_id=maker.id,
                                       record_uid=create_uid)
        create_request.values = {"name": "新客户", "custom_fields": {
            "secret_note": to_storage(specs["secret"], "新客户机密", create_uid)}}
        session.add_all([update_request, create_request])
        session.commit()
        session.execute(Customer.__table__.update().values(updated_at=STAMP))
        session.commit()
        return {"specs": specs, "customer": customer.id, "interaction": interaction.id,
                "update": update_request.id, "create": create_request.id}


def read_all(engine, ring: KeyRing, ids: dict) -> dict:
    """Every sealed value opened with ``ring`` (raises if one does not open)."""
    specs = ids["specs"]
    with crypto.using_keyring(ring), Session(engine) as session:
        customer = session.get(Customer, ids["customer"])
        interaction = session.get(Interaction, ids["interaction"])
        update_request = session.get(ChangeRequest, ids["update"])
        create_request = session.get(ChangeRequest, ids["create"])
        doc, uid = customer.custom_fields, customer.record_uid
        return {
            "secret": from_storage(specs["secret"], doc["secret_note"], uid),
            "old": from_storage(specs["old"], doc["old_secret"], uid),
            "plain": doc["plain_note"],
            "visit": from_storage(specs["visit"], interaction.custom_fields["visit_secret"],
                                  str(interaction.id)),
            "update": from_storage(specs["secret"],
                                   update_request.values["custom_fields"]["secret_note"], uid),
            "create": from_storage(specs["secret"],
                                   create_request.values["custom_fields"]["secret_note"],
                                   create_request.record_uid),
            "updated_at": customer.updated_at, "version": customer.version,
        }


def documents(engine) -> list:
    """The raw stored documents and payloads (to see that a second rotation writes nothing)."""
    with engine.connect() as connection:
        rows = []
        for table in (Customer.__table__, Interaction.__table__):
            rows += connection.execute(select(cast(table.c.custom_fields, Text))).scalars().all()
        rows += connection.execute(select(ChangeRequest.__table__.c.payload)).scalars().all()
        return sorted(rows)


EXPECTED = {"secret": "客户机密", "old": "归档机密", "plain": "公开备注", "visit": "走访机密",
            "update": "提议修改", "create": "新客户机密", "updated_at": STAMP}


def test_rotation_reseals_custom_values_and_payloads_so_the_old_key_can_go(engine):
    """Customer, interaction, archived-field and change-request values all open after the old
    key is removed; status shows nothing left on it; a second rotation rewrites nothing; the
    non-sensitive value, ``updated_at`` and ``version`` are untouched."""
    old = KeyRing.generate("2025")
    ids = fill(engine, old)
    baseline = read_all(engine, old, ids)
    assert {name: baseline[name] for name in EXPECTED} == EXPECTED
    new = old.with_key("2026")
    before = keys.key_status(engine, new)
    assert before["customer.custom_fields.secret_note"] == {"2025": 1, "2026": 0}
    assert before["customer.custom_fields.old_secret"] == {"2025": 1, "2026": 0}
    assert before["interaction.custom_fields.visit_secret"] == {"2025": 1, "2026": 0}
    assert before["change_request.payload.custom_fields.secret_note"] == {"2025": 2, "2026": 0}
    assert "customer.custom_fields.plain_note" not in before

    report = keys.rotate(engine, new, batch_size=1)
    assert report.rewritten["customer.custom_fields"] == 1
    assert report.rewritten["interaction.custom_fields"] == 1
    assert report.rewritten["change_request.payload.custom_fields"] == 2
    assert report.raced == 0

    retired = new.without("2025")
    assert read_all(engine, retired, ids) == baseline  # version and updated_at unchanged too
    after = keys.key_status(engine, new)
    for name in ("customer.custom_fields.secret_note", "customer.custom_fields.old_secret",
                 "interaction.custom_fields.visit_secret",
                 "change_request.payload.custom_fields.secret_note"):
        assert after[name]["2025"] == 0, name

    stored = documents(engine)
    again = keys.rotate(engine, new)
    assert again.rewritten["customer.custom_fields"] == 0
    assert again.rewritten["interaction.custom_fields"] == 0
    assert again.rewritten["change_request.payload.custom_fields"] == 0
    assert documents(engine) == stored


def test_a_document_changed_since_it_was_read_is_not_overwritten(engine, monkeypatch):
    """The re-sealed document is written only if the stored one is still what was read: a user's
    edit in between wins and is counted as changed meanwhile."""
    from backoffice.fields import key_rotation as krc

    old = KeyRing.generate("a")
    ids = fill(engine, old)
    new = old.with_key("b")
    real = krc._reseal

    def edit_then_reseal(spec, token, uid, keyring, prefix):
        if spec.key == "visit_secret":
            table = Interaction.__table__
            with engine.begin() as connection:
                connection.execute(table.update().where(table.c.id == ids["interaction"])
                                   .values(custom_fields={"visit_secret": None}))
        return real(spec, token, uid, keyring, prefix)

    if engine.dialect.name == "postgresql":
        pytest.skip("rows are locked FOR UPDATE on PostgreSQL: the edit would wait, not race")
    monkeypatch.setattr(krc, "_reseal", edit_then_reseal)
    report = keys.rotate(engine, new)
    assert report.rewritten["interaction.custom_fields"] == 0
    assert report.raced == 1
    with engine.connect() as connection:
        doc = connection.execute(select(Interaction.__table__.c.custom_fields)).scalar()
    assert (json.loads(doc) if isinstance(doc, str) else doc) == {"visit_secret": None}
