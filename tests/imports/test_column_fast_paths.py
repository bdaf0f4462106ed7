"""The whole-column fast paths of ``backoffice.imports.columns`` (one check over a joined
column instead of one per cell) answer exactly what the per-cell parsers answer, and a single
unsafe cell (control, zero-width, bidi, NBSP, full-width, empty, too long) in an otherwise
plain column still gets its own problem. Also: ``SpreadsheetTable.count_rows`` (the structure
pass of a skip-bad commit) counts what ``chunks`` gives and refuses what it refuses, and
``PrcIds`` with the day given answers as ``check_prc_id``."""
from __future__ import annotations

import datetime as dt

import pytest

from backoffice.imports import cells, columns, reading
from backoffice.imports.rows import RULES, FileDuplicates, validate_chunk, validate_row
from models.validators import check_prc_id, prc_id_check_digit


def prc_id(born: str, seq: str = "123") -> str:
    first = "110105" + born + seq
    return first + prc_id_check_digit(first)


PLAIN_NAMES = [f"客户{i}" for i in range(40)]
PLAIN_IDS = [prc_id(f"19{50 + i % 40}0307", f"{i:03d}") for i in range(40)]
PLAIN_MOBILES = [f"139{i:08d}" for i in range(40)]
PLAIN_EMAILS = [f"u{i}@example.com" for i in range(40)]
PLAIN_NUMBERS = [f"C{i:09d}" for i in range(40)]
UNSAFE = ["\u200b", "\u202e", "\x1b[31m", "\x00", "\u2028", "\ufeff", "\u00a0", "\t", "\n",
          "\u3000", "\u2066"]


def spoiled(column: list[str], index: int, text: str) -> list[str]:
    return column[:index] + [text] + column[index + 1:]


def variants(column: list[str]) -> list[list[str]]:
    """The plain column, then the column with one cell made unusual in every way."""
    out = [column, column[:1], spoiled(column, 3, ""), spoiled(column, 5, "  "),
           spoiled(column, 7, "x" * 300), spoiled(column, 9, " " + column[9] + " "),
           spoiled(column, 11, "ＡＢ１２３"), spoiled(column, 13, column[13].upper()),
           spoiled(column, 15, column[15][:2] + " " + column[15][2:])]
    for n, char in enumerate(UNSAFE):
        out.append(spoiled(column, n, column[n][:2] + char + column[n][2:]))
        out.append(spoiled(column, n, column[n] + char))
    return out


@pytest.mark.parametrize("column", [PLAIN_NAMES, PLAIN_IDS, PLAIN_EMAILS, PLAIN_NUMBERS])
@pytest.mark.parametrize("max_length", [20, 100])
def test_text_and_reference_fast_paths_equal_the_cell_parser(column, max_length):
    for texts in variants(column):
        assert columns.text_column(max_length)(texts) == [
            cells.parse_text(t, max_length) for t in texts]
        assert columns.text_column(max_length, True)(texts) == [
            cells.parse_text(t, max_length, True) for t in texts]
        assert columns.ref_column(max_length)(texts) == [
            cells.parse_text(cells.fold(t), max_length) for t in texts]


@pytest.mark.parametrize("column", [PLAIN_IDS, PLAIN_MOBILES, PLAIN_NUMBERS, PLAIN_NAMES])
def test_identifier_fast_paths_equal_the_cell_parsers(column):
    compact = RULES["customers"]["id_number"].parse
    number = RULES["customers"]["customer_no"].parse
    for texts in variants(column):
        assert columns.compact_column(texts) == [compact(t) for t in texts]
        assert columns.customer_no_column(texts) == [number(t) for t in texts]


@pytest.mark.parametrize("column", [PLAIN_EMAILS, PLAIN_NAMES])
def test_email_fast_path_equals_the_cell_parser(column):
    for texts in variants(column) + [spoiled(column, 2, "a@b.c"), spoiled(column, 2, "a@@b.cn"),
                                     spoiled(column, 2, "a@b.cn\nc@d.cn"),
                                     spoiled(column, 2, "A@Example.COM")]:
        assert columns.email_column(texts) == [cells.parse_email(t) for t in texts]


def test_an_unsafe_character_in_a_plain_column_is_named():
    texts = spoiled(PLAIN_IDS, 4, PLAIN_IDS[4][:6] + "\u202e" + PLAIN_IDS[4][6:])
    result = columns.compact_column(texts)
    assert result[4][0] is None and "U+202E" in str(result[4][1])
    assert all(problem is None for _, problem in result[:4] + result[5:])
    names = spoiled(PLAIN_NAMES, 6, "张\u200b三")
    result = columns.text_column(100)(names)
    assert result[6][0] is None and "U+200B" in str(result[6][1])


def test_memo_of_a_repeating_column_uses_the_column_form():
    texts = ["BJ001"] * 30 + ["BJ\u200b001", "", "BJ001 "]
    parse = RULES["customers"]["branch"]
    assert columns.parse_column(parse.parse, texts, parse.column) == [
        parse.parse(t) for t in texts]


def test_chunk_with_clean_and_ragged_columns_equals_row_by_row():
    mapping = {"客户号": "customer_no", "姓名": "name", "身份证号": "id_number",
               "手机号": "mobile", "邮箱": "email", "职业": "occupation", "爱好": "cf_hobby"}
    rows = []
    for i in range(40):
        rows.append({"客户号": PLAIN_NUMBERS[i], "姓名": PLAIN_NAMES[i], "身份证号": PLAIN_IDS[i],
                     "手机号": PLAIN_MOBILES[i], "邮箱": PLAIN_EMAILS[i],
                     "职业": "" if i % 3 else "教师", "爱好": "钓鱼" if i % 2 else ""})
    rows[5]["姓名"] = "王\u202e五"
    rows[8]["手机号"] = "12345"
    rows[9]["邮箱"] = "bad"
    rows[12]["客户号"] = PLAIN_NUMBERS[11]  # a duplicate in the file
    chunk = [reading.RawRow(i + 2, row) for i, row in enumerate(rows)]
    together = validate_chunk("customers", chunk, mapping, FileDuplicates())
    headers = {key: header for header, key in mapping.items()}
    duplicates = FileDuplicates()
    alone = [validate_row("customers", raw.number, {mapping[h]: v for h, v in raw.values.items()},
                          headers, duplicates) for raw in chunk]
    shown = [(r.row, r.values, r.references, r.custom, r.warnings,
              [(str(c), str(m)) for c, m in r.problems]) for r in together]
    assert shown == [(r.row, r.values, r.references, r.custom, r.warnings,
                      [(str(c), str(m)) for c, m in r.problems]) for r in alone]
    assert not together[5].ok and not together[8].ok and not together[9].ok
    assert not together[12].ok and together[0].ok


def test_prc_ids_with_the_day_answer_as_check_prc_id():
    today = dt.date(2024, 6, 1)
    numbers = [prc_id("19900307"), prc_id("20240601"), prc_id("20240602"), prc_id("18991231"),
               prc_id("19900307")[:-1] + "0", prc_id("19900230"), "11010519900307123"]
    ids = columns.PrcIds(numbers, today)
    for number in numbers:
        for birth in (None, dt.date(1990, 3, 7), dt.date(1990, 3, 8)):
            for day in (today, dt.date(2024, 6, 2), dt.date(1990, 1, 1)):
                assert str(ids.check(number, birth, day)) == str(
                    check_prc_id(number, birth, today=day)), (number, birth, day)


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


@pytest.mark.parametrize("body", [
    "姓名,手机号\n张三,13800138000\n\n李四,13900139000\n,\n",
    "姓名,手机号,\n张三,13800138000,\n李四,13900139000,\n",
    "标题\n\n姓名,手机号\n张三,13800138000\n",
])
def test_count_rows_counts_what_chunks_gives(body):
    counted = reading.open_table(_csv(body), "a.csv").count_rows()
    given = sum(len(c) for c in reading.open_table(_csv(body), "a.csv").chunks())
    assert counted == given > 0


@pytest.mark.parametrize("body, message", [
    ("姓名,手机号\n张三,13800138000\n李四,13900139000,多\n", "has 3 cells"),
    ("姓名,手机号\n张三\n", "has 1 cells"),
    ("姓名,,手机号\n张三,x,13800138000\n", "column B, which has no header"),
])
def test_count_rows_refuses_what_chunks_refuses(body, message):
    with pytest.raises(reading.ImportFileError) as counted:
        reading.open_table(_csv(body), "a.csv").count_rows()
    with pytest.raises(reading.ImportFileError) as chunked:
        list(reading.open_table(_csv(body), "a.csv").chunks())
    assert str(counted.value) == str(chunked.value) and message in str(counted.value)


def test_count_rows_reads_once():
    table = reading.open_table(_csv("姓名\n张三\n"), "a.csv")
    assert table.count_rows() == 1
    with pytest.raises(reading.ImportFileError):
        table.count_rows()
