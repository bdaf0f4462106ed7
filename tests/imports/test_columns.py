"""The column-at-a-time validation (``backoffice.imports.columns``, ``rows.validate_chunk``)
gives, row for row, exactly what the per-cell path (``rows.validate_row``) gives: the same typed
values, references, custom values and the same problems in the same order, for every kind of
fault and kind of file. Also the bulk sealing helpers the customer import uses (one random read
for many nonces and record uids) produce values the ordinary key ring opens."""
from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from backoffice.imports import cells, columns, reading
from backoffice.imports.rows import RULES, FileDuplicates, validate_chunk, validate_row
from models import crypto
from models.validators import check_prc_id, luhn_check_digit, prc_id_check_digit, uscc_check_char


def prc_id(born: str = "19900307", seq: str = "123", area: str = "110105") -> str:
    first = area + born + seq
    return first + prc_id_check_digit(first)


VALID = prc_id()
WRONG_CHECK = VALID[:-1] + ("0" if VALID[-1] != "0" else "1")
USCC = "91350100M000100Y4"[:17] + uscc_check_char("91350100M000100Y4"[:17])
CARD = "622202100112345678" + luhn_check_digit("622202100112345678")

CUSTOMER_ROWS = [
    {"客户号": "C0001", "姓名": "张三", "性别": "男", "出生日期": "1990/3/7", "身份证号": VALID,
     "手机号": "138 0013 8000", "邮箱": "zs@example.com", "地址": "北京市西城区", "职业": "教师",
     "风险等级": "稳健型", "开户日期": "45356", "支行": "BJ001", "客户经理": "rm1",
     "短信营销同意": "是", "爱好": " 钓鱼 "},
    {"客户号": "Ｃ０００２", "姓名": "  李四 ", "身份证号": prc_id(seq="124").lower()},
    {"客户号": "C0003", "姓名": "", "身份证号": WRONG_CHECK, "手机号": "12345",
     "邮箱": "not-an-email", "开户日期": "2024-13-45", "性别": "unknown", "风险等级": "C9"},
    {"客户号": "C0004", "姓名": "名" * 101, "身份证号": VALID, "出生日期": "1990-01-01"},
    {"客户号": "C0001", "姓名": "重复", "身份证号": VALID},  # duplicates of row 2 and 3
    {"客户号": "C0006", "姓名": "公司", "客户类型": "对公", "身份证号": USCC[:-1] + "0"},
    {"客户号": "C0007", "姓名": "公司二", "客户类型": "对公", "身份证号": USCC},
    {"客户号": "C0008", "姓名": "护照", "证件类型": "护照", "身份证号": "e1234 5678"},
    {"客户号": "C0009", "姓名": "短", "证件类型": "护照", "身份证号": "E1"},
    {"客户号": "C0010", "姓名": "未来", "身份证号": prc_id(born="20990101")},
    {"客户号": "C0011", "姓名": "假日", "身份证号": "110105199002300000"},
    {"客户号": "C0012", "姓名": "性别", "性别": "女", "身份证号": prc_id(seq="123")},
    {"客户号": "C0013", "姓名": "手机", "手机号": "+86 139-1234-5678"},
    {"客户号": "C0014", "姓名": "全角", "手机号": "１３９１２３４５６７８", "出生日期": "2024年3月5日"},
    {"客户号": "  ", "姓名": "空号", "出生日期": "1800-01-01", "风险评估日期": "2999-01-01"},
    {"客户号": "C" * 21, "姓名": "长号", "邮箱": "A@Example.COM", "贵宾": "maybe"},
    {"客户号": "C0017", "姓名": "x", "身份证号": "１１０１０５１９９００３０７１２３" + VALID[-1]},
    {"客户号": "C0018", "姓名": "数字", "身份证号": "١١٠١٠٥١٩٩٠٠٣٠٧١٢٣٤"},
    {"客户号": "C0019", "姓名": "换行", "身份证号": VALID + "\n"},
    {"客户号": "C0021", "姓名": "短号", "身份证号": VALID[:17]},
    {"客户号": "C0020", "姓名": "状态", "状态": "休眠", "老年客户": "Y", "服务备注": "n" * 2001},
]
CUSTOMER_MAPPING = {
    "客户号": "customer_no", "姓名": "name", "性别": "gender", "出生日期": "birth_date",
    "身份证号": "id_number", "手机号": "mobile", "邮箱": "email", "地址": "address",
    "职业": "occupation", "风险等级": "risk_tolerance", "开户日期": "onboarded_on",
    "支行": "branch", "客户经理": "owner", "短信营销同意": "consent_sms", "爱好": "cf_hobby",
    "客户类型": "customer_type", "证件类型": "id_type", "风险评估日期": "risk_assessed_on",
    "贵宾": "flag_vip", "状态": "status", "老年客户": "flag_elderly", "服务备注": "service_notes",
}

ACCOUNT_ROWS = [
    {"账号": CARD, "客户号": "C1", "产品": "P1", "余额": "¥1,234.50", "币种": "人民币",
     "开户日期": "2024-03-05", "状态": "正常"},
    {"账号": CARD[:-1] + str((int(CARD[-1]) + 1) % 10), "余额": "-5", "开户日期": "2024-03-05",
     "销户日期": "2024-01-01", "币种": "yuan!"},
    {"账号": "AB12", "客户号": "C1", "产品": "P1", "开户日期": "2024/3/5"},
    {"账号": CARD, "客户号": "C1", "产品": "P1", "开户日期": "2024/3/5"},
    {"账号": "11001234567890123456", "客户号": "C1", "产品": "P1", "开户日期": "45356",
     "余额": "１２３，４５６．７８"},
]
ACCOUNT_MAPPING = {"账号": "account_no", "客户号": "customer", "产品": "product", "余额": "balance",
                   "币种": "currency", "开户日期": "opened_on", "销户日期": "closed_on",
                   "状态": "status"}

TRANSACTION_ROWS = [
    {"账号": CARD, "时间": "2024-03-05 14:30", "金额": "-50", "渠道": "柜台", "类型": "deposit"},
    {"账号": CARD, "时间": "2024年3月5日 14时30分", "金额": "0", "渠道": "?", "类型": ""},
    {"账号": "", "时间": "bad", "金额": "1.234", "方向": "借", "渠道": "app", "类型": "x"},
    {"账号": CARD, "时间": "45356.5", "金额": "(500.00)", "方向": "sideways", "渠道": "网银"},
]
TRANSACTION_MAPPING = {"账号": "account", "时间": "occurred_at", "金额": "amount",
                       "方向": "direction", "渠道": "channel", "类型": "type"}

INTERACTION_ROWS = [
    {"客户": "C1", "时间": "2024-03-05", "渠道": "电话", "主题": "咨询", "摘要": "问理财",
     "满意度": "5", "投诉": "否"},
    {"客户": "", "时间": "", "渠道": "fax", "主题": "", "摘要": "", "满意度": "9", "投诉": "?"},
    {"客户": "C1", "时间": "2024-03-05", "渠道": "微信", "主题": "投诉", "摘要": "s" * 4001,
     "满意度": "3.5"},
]
INTERACTION_MAPPING = {"客户": "customer", "时间": "occurred_at", "渠道": "channel",
                       "主题": "topic", "摘要": "summary", "满意度": "satisfaction",
                       "投诉": "complaint"}

CASES = {"customers": (CUSTOMER_ROWS, CUSTOMER_MAPPING),
         "accounts": (ACCOUNT_ROWS, ACCOUNT_MAPPING),
         "transactions": (TRANSACTION_ROWS, TRANSACTION_MAPPING),
         "interactions": (INTERACTION_ROWS, INTERACTION_MAPPING)}


def as_chunk(rows: list[dict], headers: list[str]) -> list[reading.RawRow]:
    return [reading.RawRow(number, {h: row.get(h, "") for h in headers})
            for number, row in enumerate(rows, start=2)]


def described(result) -> tuple:
    return (result.row, result.values, result.references, result.custom,
            [(str(column), str(message)) for column, message in result.problems])


def one_by_one(kind, chunk, mapping) -> list:
    duplicates = FileDuplicates()
    columns = {key: header for header, key in mapping.items()}
    return [described(validate_row(kind, raw.number,
                                   {key: raw.values.get(header, "")
                                    for header, key in mapping.items()},
                                   columns, duplicates)) for raw in chunk]


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("repeat", [1, 3])
def test_chunk_validation_equals_row_by_row(kind, repeat):
    """``repeat`` 3 makes every column repeat itself, so the memoised column path runs too
    (and the repeated identifiers become in-file duplicates, reported the same way)."""
    rows, mapping = CASES[kind]
    chunk = as_chunk(rows * repeat, list(mapping))
    expected = one_by_one(kind, chunk, mapping)
    actual = [described(r) for r in validate_chunk(kind, chunk, mapping, FileDuplicates())]
    assert actual == expected
    assert any(problems for *_, problems in actual)  # the cases do exercise faults


def test_every_customer_fault_is_reported_with_its_message():
    rows, mapping = CASES["customers"]
    results = validate_chunk("customers", as_chunk(rows, list(mapping)), mapping,
                             FileDuplicates())
    messages = {str(m) for r in results for _, m in r.problems}
    for expected in ("ID number check digit is wrong.",
                     "ID number birth date does not match the birth date given.",
                     "ID number does not contain a real birth date.",
                     "ID number must be 17 digits followed by a digit or X (18 characters).",
                     "Unified social credit code check character is wrong.",
                     "Document number must be 5 to 32 characters.",
                     "Mobile number must be 11 digits starting with 13 to 19.",
                     "Not an e-mail address.", "Longer than 100 characters.",
                     "Longer than 20 characters.",
                     "Same value as row 2 of this file.",
                     "Date must be between 1900 and today."):
        assert expected in messages, expected


CELLS = ["", "  ", None, "abc", "  abc  ", "ａｂｃ", "a b\tc", "\u3000x\u3000", "x" * 300,
         "名" * 101, "  名字  ", 12, 3.5, "A\u00a0B", "１２３ ４５６", "e1234 5678", "C\n1"]


@pytest.mark.parametrize("max_length", [20, 100, 255])
def test_text_and_reference_columns_equal_their_cell_parsers(max_length):
    text = columns.text_column(max_length)(CELLS)
    assert text == [cells.parse_text(c, max_length) for c in CELLS]
    ref = columns.ref_column(max_length)(CELLS)
    assert ref == [cells.parse_text(cells.fold(c), max_length) for c in CELLS]


def test_compact_column_equals_the_cell_parser():
    compact = RULES["customers"]["id_number"].parse
    assert columns.compact_column(CELLS) == [compact(c) for c in CELLS]


def test_parse_column_memo_and_guard():
    calls = []

    def parse(raw):
        calls.append(raw)
        if raw == "boom":
            raise RuntimeError("parser bug")
        return raw.upper(), None

    texts = ["a", "b", "a", "a", "boom", "b"]
    result = columns.parse_column(parse, texts)
    assert result[:4] == [("A", None), ("B", None), ("A", None), ("A", None)]
    assert result[4][0] is None and str(result[4][1]) == "The value could not be read."
    assert sorted(calls) == ["a", "b", "boom"]  # once per distinct value


def test_prc_id_batch_check_equals_check_prc_id():
    rng = random.Random(5)
    today = dt.date.today()
    numbers = []
    for _ in range(400):
        born = dt.date(1890, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 220))
        number = prc_id(born=f"{born:%Y%m%d}", seq=f"{rng.randrange(1000):03d}")
        if rng.random() < 0.3:
            number = number[:-1] + rng.choice("0123456789X")
        if rng.random() < 0.1:
            number = number[:10] + "1340" + number[14:]  # month 13
        if rng.random() < 0.05:
            number = number[:-2]
        numbers.append(number)
    ids = columns.PrcIds(numbers)
    for number in numbers + [VALID, "X" * 18]:
        for birth in (None, dt.date(1990, 3, 7)):
            assert str(ids.check(number, birth, today)) == str(check_prc_id(number, birth,
                                                                            today)), number


def test_file_duplicates_across_merged_values(monkeypatch):
    """Values moved into the sorted arrays are still found, with their first row."""
    monkeypatch.setattr(FileDuplicates, "MERGE_AT", 3)
    mapping = {"客户号": "customer_no", "姓名": "name"}
    rows = [{"客户号": f"N{i}", "姓名": "x"} for i in range(10)]
    rows += [{"客户号": "n2", "姓名": "y"}, {"客户号": "N9", "姓名": "z"},
             {"客户号": "N10", "姓名": "w"}]
    chunk = as_chunk(rows, list(mapping))
    duplicates = FileDuplicates()
    results = [r for part in (chunk[:4], chunk[4:8], chunk[8:11], chunk[11:])
               for r in validate_chunk("customers", part, mapping, duplicates)]
    assert [str(m) for r in results for m in r.messages()] == [
        "Row 12, 客户号: Same value as row 4 of this file.",
        "Row 13, 客户号: Same value as row 11 of this file."]
    assert duplicates._sorted  # the merged path was taken


def test_bulk_sealing_opens_with_the_key_ring():
    keyring = crypto.KeyRing.generate()
    uids = crypto.new_record_uids(500)
    assert len(set(uids)) == 500
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert parsed.hex == uid and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    texts = [f"北京市{i}号" for i in range(50)]
    aads = [crypto.aad("customer", "address", uid) for uid in uids[:50]]
    tokens = keyring.encrypt_many(texts, aads)
    assert len(set(tokens)) == 50 and all(t.startswith(keyring.prefix()) for t in tokens)
    assert [keyring.decrypt(t, a) for t, a in zip(tokens, aads)] == texts
    with pytest.raises(crypto.DecryptionError):
        keyring.decrypt(tokens[0], aads[1])  # bound to its row
    assert keyring.blind_index_many("mobile", ["13800138000", "13900139000"]) == [
        keyring.blind_index("mobile", "13800138000"), keyring.blind_index("mobile", "13900139000")]
