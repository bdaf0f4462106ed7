"""Custom field rules inside imports: unique fields are row errors (never a database crash), and
sensitive fields of interactions are sealed with the new rows' ids."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.fields import registry, values
from backoffice.fields.service import sync_unique_index
from backoffice.imports import pipeline, service
from models import Customer, Interaction
from models.fields import CustomFieldDefinition
from tests.imports.conftest import count, csv_bytes

UNSCOPED = {"crm_unscoped": True}


@pytest.fixture
def field(imports):
    """Make a custom field for the test (its unique index too), removed afterwards."""
    made = []

    def make(entity: str, **attrs):
        key = f"f_{uuid.uuid4().hex[:8]}"
        definition = CustomFieldDefinition(entity=entity, key=key, label_zh=key, label_en=key,
                                           field_type="text", status="active", **attrs)
        db.session.add(definition)
        db.session.commit()
        registry.invalidate()
        spec = next(s for s in registry.field_catalog(entity) if s.key == key)
        sync_unique_index(spec)
        db.session.commit()
        made.append((definition.id, spec))
        return spec

    yield make
    db.session.rollback()
    for definition_id, spec in made:
        sync_unique_index(type(spec)(**{**spec.__dict__, "unique": False}))
        db.session.delete(db.session.get(CustomFieldDefinition, definition_id))
    db.session.commit()
    registry.invalidate()


def run(data: bytes, kind: str, mode: str, mapping: dict) -> tuple[dict, list]:
    batch, _ = service.upload(db.session, data, "rules.csv", kind, mode=mode)
    service.set_mapping(db.session, batch, mapping)
    db.session.commit()
    summary = pipeline.commit(db.session, batch.id)
    report = pipeline.files.load(db.session, batch.id, "report")
    return summary, report_rows(report)


def report_rows(data) -> list:
    if data is None:
        return []
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)][1:]


CUSTOMER_MAPPING = {"客户号": "customer_no", "姓名": "name", "会员号": None}


@pytest.mark.parametrize("mode", ["skip_bad", "atomic"])
def test_unique_custom_values_taken_or_repeated_are_row_errors(imports, field, mode):
    spec = field("customer", unique=True)
    mapping = {**CUSTOMER_MAPPING, "会员号": spec.key}
    prefix = f"U{uuid.uuid4().hex[:6]}"
    first, _ = run(csv_bytes(["客户号", "姓名", "会员号"], [[f"{prefix}0", "甲", f"{prefix}-M1"]]),
                   "customers", "skip_bad", mapping)
    assert first["created"] == 1
    rows = [[f"{prefix}1", "乙", f"{prefix}-M1"],  # row 2: held by customer 0
            [f"{prefix}2", "丙", f"{prefix}-M2"],  # row 3: new value
            [f"{prefix}3", "丁", f"{prefix}-M2"],  # row 4: same as row 3
            [f"{prefix}0", "甲", f"{prefix}-M1"]]  # row 5: customer 0 keeps its own value
    summary, report = run(csv_bytes(["客户号", "姓名", "会员号"], rows), "customers", mode,
                          mapping)
    assert summary["rejected"] == 2 and summary["status"] != "running"
    messages = {row[0]: " ".join(str(c) for c in row) for row in report}
    assert set(messages) == {2, 4}
    assert "already used by another record" in messages[2] or "已被其他记录使用" in messages[2]
    assert "row 3" in messages[4] or "第 3 行" in messages[4] or " 3 " in messages[4]
    written = count(Customer, Customer.customer_no.like(f"{prefix}%"))
    assert written == (2 if mode == "skip_bad" else 1)


def test_sensitive_interaction_fields_are_sealed_with_the_new_ids(imports, world, field):
    spec = field("interaction", sensitive=True)
    customer_no = db.session.execute(select(Customer.customer_no).where(
        Customer.id == world.customers["c_rm1"]).execution_options(**UNSCOPED)).scalar()
    summary_text = f"回访{uuid.uuid4().hex[:6]}"
    rows = [[customer_no, "2024-03-05 10:00", "电话", "咨询", f"{summary_text}-{i}", f"秘密{i}"]
            for i in range(3)]
    mapping = {"客户号": "customer", "时间": "occurred_at", "渠道": "channel", "主题": "topic",
               "摘要": "summary", "备注": spec.key}
    summary, report = run(csv_bytes(["客户号", "时间", "渠道", "主题", "摘要", "备注"], rows),
                          "interactions", "atomic", mapping)
    assert (summary["created"], summary["rejected"]) == (3, 0), report
    stored = db.session.execute(select(Interaction).where(
        Interaction.summary.like(f"{summary_text}%")).order_by(Interaction.summary)
        .execution_options(**UNSCOPED)).scalars().all()
    assert len(stored) == 3
    for i, interaction in enumerate(stored):
        token = interaction.custom_fields[spec.key]
        assert token.startswith("v1.") and f"秘密{i}" not in token
        assert values.from_storage(spec, token, values.record_uid(interaction)) == f"秘密{i}"
