"""Files as branches really send them, through the real import pipeline.

Excel's "Unicode text" (UTF-16, tab-separated, with BOM); a title and blank rows above the
header; a Big5 file (refused by name, never imported as garbled names); ID numbers Excel stored
as numbers; a workbook whose first sheet is a note; a file in which no column is a known header;
update rows that leave out the name; ``--dry-run --create-fields``; the gender rule setting.
"""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.imports import files, pipeline
from backoffice.imports.reading import ImportFileError
from models.fields import CustomFieldDefinition
from models.imports import ImportBatch
from tests.imports.conftest import commit, count, csv_bytes, customers_with_prefix, upload
from tests.support.world import make_prc_id

BIRTH = dt.date(1979, 8, 23)
HEADER = ["客户号", "姓名", "身份证号", "手机号", "支行"]


def rows_for(prefix: str, n: int = 3, start: int = 0) -> list[list[str]]:
    return [[f"{prefix}{i:03d}", f"客户{prefix}{i}", make_prc_id(BIRTH, 100 + start + i),
             f"1380000{start + i:04d}", "B1"] for i in range(n)]


def report_lines(batch_id: int) -> list[str]:
    data = files.load(db.session, batch_id, "report")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [" | ".join(str(c) for c in row if c is not None)
            for row in sheet.iter_rows(values_only=True)]


def workbook(*sheets: tuple[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_excel_unicode_text_utf16_tab_separated_is_read(imports):
    text = "\r\n".join("\t".join(row) for row in [HEADER, *rows_for("RF1A")]) + "\r\n"
    data = text.encode("utf-16")  # what Excel's "Unicode text" writes: BOM, UTF-16LE, tabs
    assert data[:2] == b"\xff\xfe"
    batch = upload(data, name="branch.txt")
    assert (batch.encoding, batch.headers) == ("utf-16", HEADER)
    result = pipeline.commit(db.session, batch.id)
    assert result["created"] == 3 and result["rejected"] == 0, result
    assert [c.name for c in customers_with_prefix("RF1A")] == ["客户RF1A0", "客户RF1A1",
                                                                "客户RF1A2"]


def test_utf16_without_a_byte_order_mark_is_read_too(imports):
    text = "\n".join(",".join(row) for row in [HEADER, *rows_for("RF1B", 2, 10)])
    result = commit(text.encode("utf-16-le"))
    assert result["created"] == 2, result


def test_a_title_and_blank_rows_above_the_header_are_skipped_in_csv(imports):
    rows = [["2024年第三季度新开户客户名单", "", "", "", ""], ["", "", "", "", ""],
            ["制表：城东支行", "", "", "", ""], HEADER, *rows_for("RF2A", 3, 20)]
    batch = upload(csv_bytes(rows[0], rows[1:]))
    assert batch.headers == HEADER
    result = pipeline.commit(db.session, batch.id)
    assert result["created"] == 3 and result["rejected"] == 0, result


def test_a_title_row_above_the_header_is_skipped_in_a_workbook_and_rows_keep_their_numbers(
        imports):
    bad = rows_for("RF2B", 2, 30)
    bad[1][3] = "12345"  # a bad mobile on spreadsheet row 5 (title, blank, header, row, row)
    data = workbook(("客户", [["客户名单（内部）"], [], HEADER, *bad]))
    result = commit(data, mode="skip_bad", name="list.xlsx")
    assert (result["created"], result["rejected"]) == (1, 1), result
    lines = report_lines(result["batch_id"])
    assert [line.split(" | ")[0] for line in lines[1:]] == ["5"], lines
    assert "手机号" in lines[1]


def test_a_big5_file_is_refused_by_name_not_imported_as_garbled_names(imports):
    traditional = [["客戶號", "姓名", "身份證號", "手機號", "支行"]] + [
        [f"RF3A{i:03d}", name, make_prc_id(BIRTH, 300 + i), f"1390000{i:04d}", "B1"]
        for i, name in enumerate(["陳大文", "黃美玲", "張偉強", "劉德華", "鄭秀文", "謝霆鋒"])]
    data = "\r\n".join(",".join(row) for row in traditional).encode("big5")
    before = count(ImportBatch)
    with pytest.raises(ImportFileError) as refused:
        upload(data)
    assert "Big5" in str(refused.value) and "UTF-8" in str(refused.value)
    assert count(ImportBatch) == before
    assert not customers_with_prefix("RF3A")


def test_a_gbk_file_is_still_read_as_gbk(imports):
    """The Big5 check must not take simplified Chinese in GBK for Big5."""
    rows = [[f"RF3B{i:03d}", name, make_prc_id(BIRTH, 320 + i), f"1390001{i:04d}", "B1"]
            for i, name in enumerate(["陈大文", "黄美玲", "张伟强", "刘德华", "郑秀文", "谢霆锋"])]
    batch = upload(csv_bytes(HEADER, rows, encoding="gbk"))
    assert batch.encoding == "gb18030"
    assert pipeline.commit(db.session, batch.id)["created"] == 6
    assert customers_with_prefix("RF3B")[0].name == "陈大文"


# The report is written in the product's default language (Chinese); English where it is not.
EXCEL_MESSAGES = ("stored by Excel as a number and lost its last digits", "被 Excel 存成了数字")


def says_excel_lost_digits(line: str) -> bool:
    return any(message in line for message in EXCEL_MESSAGES)


def test_an_id_number_excel_wrote_in_scientific_notation_is_reported_as_such(imports):
    rows = rows_for("RF4A", 2, 40)
    rows[1][2] = "1.10101E+17"  # what a CSV saved from Excel holds for a number cell
    result = commit(csv_bytes(HEADER, rows), mode="skip_bad")
    assert (result["created"], result["rejected"]) == (1, 1), result
    lines = report_lines(result["batch_id"])
    assert any(says_excel_lost_digits(line) and "身份证号" in line for line in lines), lines


def test_an_id_number_stored_as_a_number_cell_is_reported_as_such(imports):
    good, lost = rows_for("RF4B", 2, 50)
    lost[2] = int(lost[2][:17] + "1")  # a number cell: Excel (and calamine) keep 15 digits
    data = workbook(("Sheet1", [HEADER, good, lost]))
    result = commit(data, mode="skip_bad", name="ids.xlsx")
    assert (result["created"], result["rejected"]) == (1, 1), result
    lines = report_lines(result["batch_id"])
    assert any(says_excel_lost_digits(line) for line in lines), lines
    assert any("1.10101" in line and "E+17" in line for line in lines), lines


def test_an_id_number_that_lost_its_last_digits_as_trailing_zeros_is_reported(imports):
    rows = rows_for("RF4C", 1, 60)
    rows[0][2] = rows[0][2][:15] + "000"  # a number column exported with 0 decimals
    result = commit(csv_bytes(HEADER, rows), mode="skip_bad")
    assert result["rejected"] == 1, result
    assert any(says_excel_lost_digits(line) for line in report_lines(result["batch_id"]))


def test_a_workbook_whose_first_sheet_is_a_note_uses_the_sheet_with_the_headers(imports):
    note = [["填表说明"], ["1. 每行一个客户"], ["2. 身份证号请设为文本格式"]]
    data = workbook(("说明", note), ("客户数据", [HEADER, *rows_for("RF5A", 2, 70)]))
    batch = upload(data, name="notes.xlsx")
    assert batch.sheet == "客户数据" and batch.headers == HEADER  # the batch says which sheet
    result = pipeline.commit(db.session, batch.id)
    assert result["created"] == 2, result


def test_a_file_with_no_recognised_column_is_refused_whole_with_the_expected_headers(imports):
    data = csv_bytes(["foo", "bar", "baz"], [["1", "2", "3"], ["4", "5", "6"]])
    before = count(ImportBatch)
    with pytest.raises(ImportFileError) as refused:
        upload(data)
    message = str(refused.value)
    assert "客户号" in message and "姓名" in message and "身份证号" in message
    assert count(ImportBatch) == before  # no batch, so nothing to commit as "0 rows"


def test_an_update_row_needs_only_the_columns_it_changes(imports):
    """Matched by customer number or by ID number, an empty name (or no name column at all)
    leaves the stored name; a new customer without a name is still refused."""
    first = rows_for("RF6A", 2, 80)
    assert commit(csv_bytes(HEADER, first))["created"] == 2
    updates = [[first[0][0], "", "", "13911118080", ""],  # by customer number, name empty
               ["", "", first[1][2], "13911118081", ""],  # by ID number, name empty
               ["RF6A999", "", make_prc_id(BIRTH, 189), "13911118089", "B1"]]  # new: refused
    result = commit(csv_bytes(HEADER, updates), mode="skip_bad")
    assert (result["updated"], result["created"], result["rejected"]) == (2, 0, 1), result
    lines = report_lines(result["batch_id"])
    assert any("姓名" in line and ("required" in line or "必填" in line) for line in lines), lines
    stored = {c.customer_no: (c.name, c.mobile) for c in customers_with_prefix("RF6A")}
    assert stored == {first[0][0]: (first[0][1], "13911118080"),
                      first[1][0]: (first[1][1], "13911118081")}
    no_name_column = commit(csv_bytes(["客户号", "手机号"], [[first[0][0], "13911118090"]]))
    assert no_name_column["updated"] == 1, no_name_column
    assert customers_with_prefix("RF6A")[0].name == first[0][1]


@pytest.mark.parametrize("rule", ["refuse", "from_id"])
def test_the_gender_rule_is_a_setting(app, imports, rule):
    row = rows_for("RF7" + rule[0].upper(), 1, 90)[0]  # make_prc_id: male by default
    app.config["CRM_IMPORT_GENDER_RULE"] = rule
    try:
        result = commit(csv_bytes(HEADER + ["性别"], [row + ["女"]]), mode="skip_bad")
    finally:
        app.config.pop("CRM_IMPORT_GENDER_RULE", None)
    written = customers_with_prefix("RF7" + rule[0].upper())
    if rule == "refuse":
        assert (result["created"], result["rejected"]) == (0, 1), result
        assert not written
    else:
        assert (result["created"], result["rejected"]) == (1, 0), result
        assert written[0].gender == "M"
        (warning, rows), = result["warnings"].items()
        assert rows == 1 and warning.startswith("性别")
        assert "ID number" in warning or "身份证号" in warning


def test_dry_run_with_create_fields_proposes_fields_and_writes_none(app, imports, tmp_path):
    header = HEADER + ["信用评分RF8", "爱好RF8"]
    body = [row + [str(600 + i), "钓鱼"] for i, row in enumerate(rows_for("RF8A", 3, 95))]
    path = tmp_path / "fields.csv"
    path.write_bytes(csv_bytes(header, body))
    definitions = count(CustomFieldDefinition)
    result = app.test_cli_runner().invoke(args=["crm", "import", str(path), "--kind",
                                                "customers", "--dry-run", "--create-fields"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert {f["header"]: f["type"] for f in summary["proposed_fields"]} == {
        "信用评分RF8": "integer", "爱好RF8": "choice"}
    assert summary["created"] == 3 and summary["status"] == "dry_run"
    db.session.rollback()
    assert count(CustomFieldDefinition) == definitions
    assert not db.session.scalars(select(CustomFieldDefinition).where(
        CustomFieldDefinition.label_zh.in_(["信用评分RF8", "爱好RF8"]))).all()
    assert not customers_with_prefix("RF8A")
    batch = db.session.get(ImportBatch, summary["batch_id"])
    assert batch.create_fields is False and "信用评分RF8" not in (batch.mapping or {})


def test_a_title_above_one_known_header_beside_custom_columns_is_skipped(imports):
    """One known header (the customer number) beside columns only custom fields know: the
    row with it is the header, not the title above."""
    first = rows_for("RF9A", 1, 110)
    assert commit(csv_bytes(HEADER, first))["created"] == 1
    data = csv_bytes(["客户补充资料", "", ""], [["", "", ""], ["客户号", "爱好RF9", "备用RF9"],
                                              [first[0][0], "钓鱼", "x"]])
    batch = upload(data)
    assert batch.headers == ["客户号", "爱好RF9", "备用RF9"]
    assert batch.mapping == {"客户号": "customer_no"}


def test_a_batch_whose_mapping_lost_every_column_fails_instead_of_committing_nothing(imports):
    """The screen can unmap every column after the upload: the run then refuses the file as a
    whole (the message lists the expected headers), it never reports "0 rows" done."""
    batch = upload(csv_bytes(HEADER, rows_for("RF9B", 2, 120)))
    batch.mapping = {}
    db.session.commit()
    result = pipeline.commit(db.session, batch.id)
    assert result["status"] == "failed", result
    assert "客户号" in (result["message"] or "") and "姓名" in (result["message"] or "")
    assert not customers_with_prefix("RF9B")


def test_reading_finds_the_header_row_and_keeps_spreadsheet_row_numbers():
    from backoffice.imports import reading

    data = csv_bytes(["城东支行 2024 年客户名单", "", ""],
                     [["", "", ""], ["客户号", "姓名", "手机号"], ["C1", "甲", "13800000001"]])
    table = reading.open_table(data, "t.csv")
    assert (table.header_row, table.headers) == (3, ["客户号", "姓名", "手机号"])
    rows = [row for chunk in table.chunks() for row in chunk]
    assert [(row.number, row.values["姓名"]) for row in rows] == [(4, "甲")]
    plain = reading.open_table(csv_bytes(["foo", "bar"], [["1", "2"]]), "t.csv")
    assert plain.header_row == 1 and plain.headers == ["foo", "bar"]  # nothing known: row 1
