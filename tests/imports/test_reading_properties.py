"""Property: whatever bytes are uploaded, the reader yields rows or raises ImportFileError,
never any other exception (random bytes, mutated CSV and XLSX, truncated and forged zips)."""
from __future__ import annotations

import io
import zipfile

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.imports import reading
from backoffice.imports.reading import ImportFileError


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(["姓名", "证件号码", "手机号", "开户日期", "余额"])
    for i in range(20):
        sheet.append([f"客户{i}", "11010519491231002X", 13800138000 + i, 45356 + i, i * 10.5])
    workbook.create_sheet("空")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


VALID_XLSX = _xlsx()
VALID_CSV = ("客户号,姓名,手机号,余额\r\n" + "".join(
    f"C{i:03},客户{i},1380013{i:04},\"{i},234.50\"\r\n" for i in range(30)))
CSV_SEEDS = [VALID_CSV.encode("utf-8"), VALID_CSV.encode("utf-8-sig"), VALID_CSV.encode("gbk"),
             VALID_CSV.replace(",", ";").encode("gb18030"), VALID_CSV.replace(",", "\t").encode()]
ZIP_MEMBERS = ["[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
               "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "_rels/.rels",
               "xl/styles.xml"]


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[at] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif operation == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from([b'"', b"\n", b",", b"\x00", b"\xff", b"\r",
                                                b"\xef\xbb\xbf", b'""', b"PK\x03\x04"]))
    return bytes(data)


@st.composite
def forged_zips(draw):
    """Valid zip containers whose members are missing, swapped for garbage, or taken from a
    real workbook and cut."""
    real = zipfile.ZipFile(io.BytesIO(VALID_XLSX))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as forged:
        for name in draw(st.lists(st.sampled_from(ZIP_MEMBERS + real.namelist()), max_size=8,
                                  unique=True)):
            content = real.read(name) if name in real.namelist() else b""
            choice = draw(st.sampled_from(["keep", "garbage", "cut"]))
            if choice == "garbage":
                content = draw(st.binary(max_size=200))
            elif choice == "cut" and content:
                content = content[: draw(st.integers(0, len(content)))]
            forged.writestr(name, content)
    return buffer.getvalue()


malformed = st.one_of(
    st.binary(max_size=2000),
    st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
    mutated(CSV_SEEDS),
    mutated([VALID_XLSX]),
    st.integers(0, len(VALID_XLSX)).map(lambda n: VALID_XLSX[:n]),
    forged_zips(),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
)


def read_everything(data: bytes, filename: str, sheet) -> int:
    count = 0
    for chunk in reading.read_chunks(data, filename, sheet=sheet, size=7):
        for row in chunk:
            assert isinstance(row.number, int) and row.number >= 1
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in row.values.items())
            count += 1
    return count


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed, st.sampled_from(["upload.csv", "upload.xlsx", "upload", "客户.CSV"]),
       st.sampled_from([None, 0, 1, "客户", "nope"]))
def test_only_import_file_error_escapes(data, filename, sheet):
    try:
        read_everything(data, filename, sheet)
    except ImportFileError as error:
        assert str(error)  # a message a person can read
    try:
        reading.list_sheets(data)
    except ImportFileError as error:
        assert str(error)


def test_the_seeds_themselves_are_valid():
    for seed in CSV_SEEDS:
        assert read_everything(seed, "f.csv", None) == 30
    assert read_everything(VALID_XLSX, "f.xlsx", "客户") == 20
