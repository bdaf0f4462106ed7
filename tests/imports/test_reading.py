"""The reader: encodings, delimiters, XLSX through calamine, row numbers, chunking, and one
specific ImportFileError for every kind of malformed file."""
from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import openpyxl
import pytest

from backoffice.imports import mapping, reading
from backoffice.imports.reading import ImportFileError

CHURN = Path("/work/shared/data/bank_churn/Churn_Modelling.csv")
CSV_TEXT = "客户号,姓名,手机号,余额\nC001,张三,13800138000,\"1,234.50\"\nC002,李四,13900139000,0\n"


def rows_of(data: bytes, filename: str = "f.csv", **kwargs):
    return [row for chunk in reading.read_chunks(data, filename, **kwargs) for row in chunk]


def make_xlsx(sheets: dict[str, list[list]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("encoding, detected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("gbk", "gb18030"), ("gb18030", "gb18030")])
def test_encodings_are_detected(encoding, detected):
    data = CSV_TEXT.encode(encoding)
    table = reading.open_table(data, "客户.csv")
    assert table.encoding == detected
    assert table.headers == ["客户号", "姓名", "手机号", "余额"]  # no BOM left in the first header
    rows = [row for chunk in table.chunks() for row in chunk]
    assert rows[0] == reading.RawRow(2, {"客户号": "C001", "姓名": "张三",
                                         "手机号": "13800138000", "余额": "1,234.50"})
    assert rows[1].values["姓名"] == "李四"


def test_real_gbk_bytes():
    data = b"\xd0\xd5\xc3\xfb,\xca\xd6\xbb\xfa\xba\xc5\r\n\xd5\xc5\xc8\xfd,13800138000\r\n"
    table = reading.open_table(data)
    assert table.encoding == "gb18030"
    assert table.headers == ["姓名", "手机号"]
    assert [r.values for c in table.chunks() for r in c] == [{"姓名": "张三", "手机号": "13800138000"}]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_sniffing(delimiter):
    text = delimiter.join(["name", "amount", "note"]) + "\n" + \
        delimiter.join(["Li", "1,5", "a|b"]) + "\n"
    if delimiter == ",":
        text = "name,amount,note\nLi,\"1,5\",a;b\n"
    table = reading.open_table(text.encode())
    assert table.delimiter == delimiter
    assert [r.values for c in table.chunks() for r in c] == [
        {"name": "Li", "amount": "1,5", "note": "a|b" if delimiter != "," else "a;b"}]


def test_row_numbers_skip_blank_lines_and_count_multiline_cells_as_one_row():
    data = b"\n\nname,note\nA,\"two\nlines\"\n\n,\nB,x\n"
    rows = rows_of(data)
    assert [(r.number, r.values["name"]) for r in rows] == [(4, "A"), (7, "B")]
    assert rows[0].values["note"] == "two\nlines"


def test_chunks_are_bounded():
    data = ("n\n" + "".join(f"{i}\n" for i in range(12))).encode()
    chunks = list(reading.read_chunks(data, size=5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    assert chunks[-1][-1].number == 13


def test_trailing_empty_columns_are_tolerated():
    rows = rows_of(b"a,b,\n1,2,\n3,4,\n")
    assert [r.values for r in rows] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_header_only_file_has_no_rows():
    table = reading.open_table(b"name,mobile\n")
    assert table.headers == ["name", "mobile"] and list(table.chunks()) == []


def test_sha256():
    assert reading.sha256_hex(b"abc") == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"\n\n  \n", "no header"),
    (b"name,Name\n1,2\n", "appears twice"),
    (b"a,b\n1,2,3\n", "Row 2 has 3 cells"),
    (b"a,b,c\n1,2\n", "Row 2 has 2 cells"),
    (b"a,,c\n1,2,3\n", "column B, which has no header"),
    (b"a,b\n\x00\x01\x02,3\n", "binary"),
    (b"\xff\xfe\x00a\x00", "UTF-16"),  # a UTF-16 BOM, then an odd byte out
    (b"name\n\x81\x20\n", "encoding"),
    (b"PK\x03\x04garbage", "damaged"),
    (b"a,b\n\"x" + b"y" * (1 << 20 + 1) + b"\",1\n", "1 MiB"),
])
def test_malformed_files_raise_one_specific_error(data, fragment):
    with pytest.raises(ImportFileError) as caught:
        rows_of(data)
    assert fragment in str(caught.value)


def test_named_xlsx_that_is_not_a_workbook():
    with pytest.raises(ImportFileError, match="not one"):
        reading.open_table(b"name\nx\n", "客户.xlsx")


def test_xlsx_values_as_a_person_sees_them_and_sheet_choice():
    data = make_xlsx({
        "说明": [["This sheet explains the file"]],
        "客户": [["姓名", "开户日期", "时间", "余额", "序号", "证件号", "是否VIP", "小数"],
                 ["张三", dt.date(2024, 3, 5), dt.datetime(2024, 3, 5, 14, 30), 1234.5, 3,
                  "11010519491231002X", True, 0.1],
                 [None, None, None, None, None, None, None, None],
                 ["李四", 45356, None, 1e20, 3.0, None, False, 1e-7]],
    })
    assert reading.list_sheets(data) == ["说明", "客户"]
    table = reading.open_table(data, "客户.xlsx", sheet="客户")
    assert table.format == "xlsx" and table.sheet == "客户" and table.header_row == 1
    rows = [r for c in table.chunks() for r in c]
    assert rows[0] == reading.RawRow(2, {
        "姓名": "张三", "开户日期": "2024-03-05", "时间": "2024-03-05 14:30:00",
        "余额": "1234.5", "序号": "3", "证件号": "11010519491231002X", "是否VIP": "TRUE",
        "小数": "0.1"})
    assert rows[1].number == 4
    assert rows[1].values["开户日期"] == "45356"  # a serial; cells.parse_date reads it
    assert rows[1].values["余额"] == "1E+20"  # as Excel shows it: more digits than it keeps
    assert rows[1].values["小数"] == "0.0000001"
    assert reading.open_table(data, sheet=1).sheet == "客户"
    assert reading.open_table(data).sheet == "客户"  # the note has no recognised headers


def test_xlsx_data_not_starting_at_a1_keeps_spreadsheet_row_numbers():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C3"], sheet["D3"] = "name", "mobile"
    sheet["C5"], sheet["D5"] = "王五", "13700137000"
    buffer = io.BytesIO()
    workbook.save(buffer)
    rows = rows_of(buffer.getvalue(), "x.xlsx")
    assert rows == [reading.RawRow(5, {"name": "王五", "mobile": "13700137000"})]


@pytest.mark.parametrize("sheets, sheet, fragment", [
    ({"S": [["a", "A"], [1, 2]]}, None, "appears twice"),
    ({"S": [["a", None], [1, 2]]}, None, "column B, which has no header"),
    ({"S": []}, None, "no header"),
    ({"S": [["a"]]}, "T", "no sheet T"),
    ({"S": [["a"]]}, 3, "no sheet 3"),
])
def test_malformed_xlsx(sheets, sheet, fragment):
    with pytest.raises(ImportFileError) as caught:
        rows_of(make_xlsx(sheets), "x.xlsx", sheet=sheet)
    assert fragment in str(caught.value)


def test_truncated_xlsx():
    data = make_xlsx({"S": [["a"], [1]]})
    for cut in (10, len(data) // 2, len(data) - 10):
        with pytest.raises(ImportFileError):
            rows_of(data[:cut], "x.xlsx")
    with pytest.raises(ImportFileError):
        reading.list_sheets(data[: len(data) // 2])
    with pytest.raises(ImportFileError, match="not an Excel workbook"):
        reading.list_sheets(b"name\n")


def test_chunks_can_be_read_once():
    table = reading.open_table(b"a\n1\n")
    list(table.chunks())
    with pytest.raises(ImportFileError):
        list(table.chunks())


def test_churn_dataset_is_read_and_mapped():
    """The public bank churn file: 10,000 rows, Surname -> name, the rest typed for custom fields."""
    data = CHURN.read_bytes()
    started = time.perf_counter()
    table = reading.open_table(data, CHURN.name)
    rows = [row for chunk in table.chunks() for row in chunk]
    elapsed = time.perf_counter() - started
    print(f"read {len(rows)} rows in {elapsed:.3f} s")
    assert len(rows) == 10_000
    assert [r.number for r in rows] == list(range(2, 10_002))
    result = mapping.auto_map(table.headers, "customers", sample_rows=[r.values for r in rows])
    # CustomerId is the bank's customer number (not an identity document): see mapping.SYNONYMS.
    assert result.columns == {"CustomerId": "customer_no", "Surname": "name", "Gender": "gender"}
    types = {c.header: c.inferred_type for c in result.unmatched}
    assert types == {
        "RowNumber": "integer", "CreditScore": "integer",
        "Geography": "choice", "Age": "integer", "Tenure": "integer", "Balance": "money",
        "NumOfProducts": "integer", "HasCrCard": "boolean", "IsActiveMember": "boolean",
        "EstimatedSalary": "money", "Exited": "boolean"}
    geography = next(c for c in result.unmatched if c.header == "Geography")
    assert geography.choices == ["France", "Germany", "Spain"]
