"""Malformed CSV and XLSX bytes through the whole database stage (Hypothesis, 1,000 examples).

Guards: whatever the bytes, upload + commit raise nothing but the import's own refusals
(``ImportFileError``/``ImportRefused``), and never leave a partial write: in atomic mode a batch
either committed all of its counted rows or wrote none; in skip-bad mode exactly the rows it
counted as created exist. Bytes are mutations of a real CSV and a real XLSX (truncated, bytes
flipped, spliced) plus free text, which is what broken uploads look like.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.imports import pipeline, service
from backoffice.imports.reading import ImportFileError
from models import Customer
from tests.imports.conftest import created_ids, csv_bytes, remove_batches_data, xlsx_bytes

HEADER = ["客户号", "姓名", "手机号", "出生日期"]
ROWS = [[f"HY{i}", f"名{i}", f"1391234{i:04d}", f"1990-01-0{1 + i % 9}"]
        for i in range(6)]
SEED_CSV = csv_bytes(HEADER, ROWS)
SEED_XLSX = xlsx_bytes(HEADER, ROWS)


@st.composite
def broken_files(draw):
    seed = draw(st.sampled_from([SEED_CSV, SEED_XLSX, SEED_CSV.decode().encode("gb18030")]))
    action = draw(st.sampled_from(["truncate", "flip", "splice", "text", "raw"]))
    if action == "truncate":
        return seed[:draw(st.integers(0, len(seed)))]
    if action == "flip":
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if action == "splice":
        at = draw(st.integers(0, len(seed)))
        return seed[:at] + draw(st.binary(max_size=40)) + seed[at:]
    if action == "text":
        cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
        lines = draw(st.lists(st.lists(cells, min_size=1, max_size=5), max_size=6))
        return "\n".join(",".join(line) for line in [HEADER] + lines).encode("utf-8")
    return draw(st.binary(max_size=300))


def created_rows(batch_id: int) -> int:
    created = created_ids([batch_id])
    return db.session.execute(select(func.count()).select_from(Customer).where(
        Customer.id.in_(created)).execution_options(crm_unscoped=True)).scalar()


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=broken_files(), mode=st.sampled_from(["atomic", "skip_bad"]),
       name=st.sampled_from(["f.csv", "f.xlsx", "f.txt"]))
def test_malformed_files_never_raise_and_never_half_write(imports, data, mode, name):
    before = db.session.execute(select(func.count()).select_from(Customer)
                                .execution_options(crm_unscoped=True)).scalar()
    try:
        batch, _ = service.upload(db.session, data, name, "customers", mode=mode)
    except (ImportFileError, service.ImportRefused):
        db.session.rollback()
        return
    try:
        summary = pipeline.commit(db.session, batch.id)
        written = created_rows(batch.id)
        now = db.session.execute(select(func.count()).select_from(Customer)
                                 .execution_options(crm_unscoped=True)).scalar()
        assert now - before == written
        if summary["status"] == "committed":
            assert written == summary["created"]
        else:
            assert written == 0 or mode == "skip_bad"
        if mode == "atomic" and summary["rejected"]:
            assert written == 0
    finally:
        remove_batches_data([batch.id])
