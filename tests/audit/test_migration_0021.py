"""Migration 0021 masks identifiers stored in old log rows and re-seals the chain with the key.

Rows planted at revision 0020 (the plain SHA-256 chain, plaintext markers in ``detail`` and in a
typed-in user name) come out masked, keyed, with the migration itself on record, and
``flask crm audit verify`` passes; a planted log that does not verify is refused, not laundered.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from flask_migrate import upgrade
from sqlalchemy import String, Text, select

from backoffice.audit import chain
from backoffice.extensions import db
from backoffice.security.masking import mask_value
from models.audit import AuditHead, AuditLog
from tests.support.services import migration_app, migration_module

LOG = AuditLog.__table__
HEAD = AuditHead.__table__
ID_NUMBER = "11010519491231002X"
MOBILE = "13987650021"
EMAIL = "mig0021@audit-marker.cn"
ADDRESS = "上海市浦东新区迁移路21号8室"


def _plant(app, tamper=False):
    """Five rows chained the pre-0021 way (plain SHA-256) and the head, at revision 0020."""
    details = [
        {"filters": {"_flt_0_mobile": MOBILE, "search": EMAIL}, "format": "csv"},
        {"ids": [1, 2], "returned": 2},
        {"reason": f"核实 {ID_NUMBER} 住址 {ADDRESS}"},
        {"q": f"(filters:!((col:address,opr:ct,value:'{ADDRESS}')))"},
        {"via": "form"},
    ]
    prev = chain.GENESIS
    rows = []
    for number, detail in enumerate(details, start=1):
        row = {name: None for name in chain.FIELDS}
        row.update(occurred_at=dt.datetime(2025, 6, 1, 8, number), action="export",
                   entity="Customer", actor_username=MOBILE if number == 5 else "rm1",
                   detail=chain.canonical_json(detail), id=number, prev_hash=prev)
        row["row_hash"] = prev = chain.unkeyed_hash(number, row, prev)
        rows.append(row)
    if tamper:
        rows[2]["detail"] = chain.canonical_json({"reason": "edited"})
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(LOG.insert(), rows)
        connection.execute(HEAD.update().values(last_id=5, last_hash=prev))


def test_revision_ids():
    module = migration_module("0021_audit_pii")
    assert module.revision == "0021_audit_pii" and module.down_revision == "0020_undo_lz4"


def test_upgrade_masks_reseals_and_records_itself(tmp_path):
    with migration_app(tmp_path) as app:
        with app.app_context():
            upgrade(revision="0020_undo_lz4")
        _plant(app)
        with app.app_context():
            upgrade(revision="heads")
        columns = [c for c in LOG.c if isinstance(c.type, (String, Text))]
        with app.app_context(), db.engine.connect() as connection:
            texts = [v for row in connection.execute(select(*columns)) for v in row if v]
            rows = [dict(r) for r in connection.execute(select(LOG).order_by(LOG.c.id))
                    .mappings()]
        blob = "\n".join(texts)
        for marker in (ID_NUMBER, MOBILE, EMAIL, ADDRESS):
            assert marker not in blob, marker
        assert mask_value("mobile", MOBILE) in blob and mask_value("id_number", ID_NUMBER) in blob
        assert rows[4]["actor_username"] == mask_value("mobile", MOBILE)
        assert rows[1]["detail"] == chain.canonical_json({"ids": [1, 2], "returned": 2})
        last = rows[-1]
        assert last["action"] == "audit_migration" and last["id"] == 6
        detail = json.loads(last["detail"])
        assert detail["revision"] == "0021_audit_pii" and detail["masked_rows"] == 4
        assert detail["resealed_from"] == 1
        with app.app_context():
            for row in rows:  # every row keyed now: the plain hash no longer matches
                assert chain.compute_hash(row["id"], row, row["prev_hash"]) == row["row_hash"]
                assert chain.unkeyed_hash(row["id"], row, row["prev_hash"]) != row["row_hash"]
        result = app.test_cli_runner().invoke(args=["crm", "audit", "verify"])
        assert result.exit_code == 0 and "OK: 6 rows verified" in result.output, result.output


def test_upgrade_refuses_a_log_that_does_not_verify(tmp_path):
    with migration_app(tmp_path) as app:
        with app.app_context():
            upgrade(revision="0020_undo_lz4")
        _plant(app, tamper=True)
        with app.app_context(), pytest.raises(Exception, match="does not verify at row 3"):
            upgrade(revision="heads")
