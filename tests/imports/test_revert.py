"""Revert restores exactly the pre-batch state for untouched rows; edited rows are conflicts.

Guards: created rows are removed, updated rows get their previous values back (encrypted ones
included, as the same ciphertext), a row edited after the import is reported and left alone.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backoffice.extensions import db
from backoffice.imports import revert
from models import Customer
from tests.imports.conftest import commit, csv_bytes
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "手机号", "身份证号", "职业"]


def snapshot(prefix):
    rows = db.session.execute(select(Customer.__table__).where(
        Customer.customer_no.like(f"{prefix}%")).order_by(Customer.customer_no)).mappings().all()
    return [dict(row) for row in rows]


def test_revert_restores_untouched_rows_and_reports_conflicts(imports):
    ids = [make_prc_id(dt.date(1975, 5, 5), 300 + i) for i in range(4)]
    base = [[f"RV{i}", f"原名{i}", f"1370000000{i}", ids[i], "教师"] for i in range(4)]
    assert commit(csv_bytes(HEADER, base))["created"] == 4
    before = snapshot("RV")

    changed = [[f"RV{i}", f"新名{i}", f"1390000000{i}", ids[i], "医生"] for i in range(4)]
    changed.append(["RVNEW", "新客户", "", "", ""])
    result = commit(csv_bytes(HEADER, changed))
    assert (result["updated"], result["created"]) == (4, 1)
    edited = db.session.execute(select(Customer).where(Customer.customer_no == "RV3")
                                .execution_options(crm_unscoped=True)).scalar_one()
    edited.occupation = "律师"  # someone edits this row after the import
    db.session.commit()

    outcome = revert.revert(db.session, result["batch_id"])
    assert (outcome["removed"], outcome["restored"], outcome["conflicts"]) == (1, 3, 1)
    assert outcome["conflict_rows"][0]["row"] == 5  # RV3 is row 5 of the file
    after = snapshot("RV")
    untouched = {row["customer_no"]: row for row in after if row["customer_no"] != "RV3"}
    for row in before[:3]:
        restored = dict(untouched[row["customer_no"]])
        for column in ("updated_at", "version"):
            restored.pop(column), row.pop(column)
        assert restored == row  # byte-for-byte, ciphertexts included
    rv3 = next(row for row in after if row["customer_no"] == "RV3")
    assert rv3["occupation"] == "律师" and rv3["name"] == "新名3"
    assert "RVNEW" not in {row["customer_no"] for row in after}


def test_revert_in_pieces_across_grouped_undo_rows(imports, app, monkeypatch):
    """The customers a chunk creates share one undo row; revert reads undo rows a few at a time
    and reverts records a few at a time, so a piece ends inside a chunk's group and the next
    one starts there. Every created customer goes but the one edited since (a conflict that
    names its own spreadsheet row); every updated one is restored."""
    app.config["CRM_IMPORT_CHUNK_SIZE"] = 7
    monkeypatch.setattr(revert, "CHUNK", 5)
    monkeypatch.setattr(revert, "FETCH", 2)
    try:
        ids = [make_prc_id(dt.date(1976, 6, 6), 400 + i) for i in range(3)]
        base = [[f"RP{i}", f"原名{i}", "", ids[i], "教师"] for i in range(3)]
        assert commit(csv_bytes(HEADER, base))["created"] == 3
        rows = [[f"RP{i}", f"新名{i}", "", "", "医生"] for i in range(3)]  # rows 2-4: updates
        rows += [[f"RPN{i:02d}", f"新客户{i}", "", "", ""] for i in range(30)]  # rows 5-34
        result = commit(csv_bytes(HEADER, rows))
        assert (result["updated"], result["created"]) == (3, 30)
    finally:
        app.config.pop("CRM_IMPORT_CHUNK_SIZE")
    edited = db.session.execute(select(Customer).where(Customer.customer_no == "RPN17")
                                .execution_options(crm_unscoped=True)).scalar_one()
    edited.occupation = "律师"
    db.session.commit()

    outcome = revert.revert(db.session, result["batch_id"])
    assert (outcome["removed"], outcome["restored"], outcome["conflicts"]) == (29, 3, 1)
    assert [(c["row"], c["op"]) for c in outcome["conflict_rows"]] == [(22, "create")]
    left = {row["customer_no"]: row for row in snapshot("RP")}
    assert sorted(left) == ["RP0", "RP1", "RP2", "RPN17"]
    assert [left[f"RP{i}"]["name"] for i in range(3)] == ["原名0", "原名1", "原名2"]
