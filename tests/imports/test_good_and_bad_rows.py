"""N good and M bad rows of every kind of fault, in both modes.

Guards the issue's promise: ``skip_bad`` writes exactly the N good rows and reports the M bad
ones with their spreadsheet row numbers and one message per problem; ``atomic`` writes nothing
when M > 0 and still reports every bad row. The error report is a workbook with the original
values.
"""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from backoffice.extensions import db
from backoffice.imports import files
from models import Account, Customer, Transaction
from tests.imports.conftest import commit, count, csv_bytes, customers_with_prefix
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "身份证号", "出生日期", "手机号", "邮箱", "开户日期", "支行",
          "客户经理", "风险等级", "客户类型"]


def good_rows(prefix: str, n: int) -> list[list]:
    rows = []
    for i in range(n):
        birth = dt.date(1980, 1 + i % 12, 1 + i % 28)
        rows.append([f"{prefix}{i:04d}", f"好客户{i}", make_prc_id(birth, 700 + i),
                     f"{birth.year}年{birth.month}月{birth.day}日", f"1391234{i:04d}",
                     f"good{i}@example.com", "2024/3/5", "B1", "rm1", "稳健型", "个人"])
    return rows


def bad_rows(prefix: str) -> list[tuple[list, str]]:
    """(row, the column its problem is reported on), one per kind of fault."""
    birth = dt.date(1985, 6, 15)
    valid_id = make_prc_id(birth, 901)
    wrong_check = valid_id[:-1] + ("0" if valid_id[-1] != "0" else "1")
    base = ["", "坏客户", "", "", "", "", "", "B1", "", "", ""]

    def row(**changes):
        values = list(base)
        values[0] = f"{prefix}B{len(rows):03d}"
        for index, value in changes.items():
            values[int(index[1:])] = value
        return values

    rows: list[tuple[list, str]] = []
    rows.append((row(c2=wrong_check), "身份证号"))                        # PRC check digit
    rows.append((row(c2=valid_id, c3="1990-01-01"), "身份证号"))          # birth date disagrees
    rows.append((row(c4="12345"), "手机号"))                              # mainland mobile
    rows.append((row(c2="91350100M000100Y4X", c10="对公"), "身份证号"))   # USCC check char
    rows.append((row(c5="not-an-email"), "邮箱"))                         # e-mail
    rows.append((row(c6="2024-13-45"), "开户日期"))                       # impossible date
    rows.append((row(c7="NO-SUCH-BRANCH"), "支行"))                       # unknown branch
    rows.append((row(c8="nobody"), "客户经理"))                           # unknown owner
    rows.append((row(c1=""), "姓名"))                                     # required
    rows.append((row(c1="名" * 101), "姓名"))                             # length
    rows.append((row(c9="超级激进"), "风险等级"))                          # choice
    rows.append((row(c0=f"{prefix}0000"), "客户号"))                      # duplicate in file
    return rows


def luhn_card(body: str) -> str:
    """``body`` plus its Luhn check digit."""
    total = 0
    for index, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


@pytest.mark.parametrize("mode", ["skip_bad", "atomic"])
def test_good_rows_written_bad_rows_reported(imports, mode):
    prefix = f"GB{mode[0].upper()}"
    good = good_rows(prefix, 30)
    bad = bad_rows(prefix)
    body = good[:15] + [r for r, _ in bad] + good[15:]
    before = count(Customer)

    summary = commit(csv_bytes(HEADER, body), mode=mode)

    bad_numbers = {16 + i + 1: column for i, (_, column) in enumerate(bad)}  # header = row 1
    assert summary["rejected"] == len(bad)
    if mode == "skip_bad":
        assert summary["status"] == "committed"
        assert summary["created"] == 30 and count(Customer) == before + 30
        stored = customers_with_prefix(prefix)
        assert [c.customer_no for c in stored] == sorted(r[0] for r in good)
        first = stored[0]
        assert first.id_number == good[0][2] and first.mobile == good[0][4]
        assert first.birth_date == dt.date(1980, 1, 1) and first.risk_tolerance == "C3"
        assert first.owner.username == "rm1" and first.branch.code == "B1"
        assert first.onboarded_on == dt.date(2024, 3, 5)
    else:
        assert summary["status"] == "failed" and summary["created"] == 0
        assert count(Customer) == before and customers_with_prefix(prefix) == []

    report = load_workbook(io.BytesIO(files.load(db.session, summary["batch_id"], "report")))
    rejected = list(report.worksheets[0].iter_rows(values_only=True))
    assert rejected[0][0] in ("Row", "行") and list(rejected[0][1:-1]) == HEADER
    numbers = [r[0] for r in rejected[1:]]
    assert numbers == sorted(bad_numbers)
    for line, (values, _) in zip(rejected[1:], bad):
        assert [v or "" for v in line[1:-1]] == [str(v) for v in values]  # original values
    problems = list(report.worksheets[1].iter_rows(values_only=True))[1:]
    reported = {(row, column) for row, column, _ in problems}
    for number, column in bad_numbers.items():
        assert (number, column) in reported, (number, column, problems)
    assert all(str(row) in message for row, _, message in problems)


def test_holdings_faults_and_idempotent_rerun(imports, world):
    """Accounts: Luhn, unknown customer/product, negative balance, closing before opening;
    transactions: unknown account, zero amount, unknown direction. Re-running changes nothing."""
    customer_no = "T000000001"  # c_rm1 of the world
    card = luhn_card("622202020011223344")
    bad_card = card[:-1] + str((int(card[-1]) + 1) % 10)
    accounts = csv_bytes(["账号", "客户号", "产品", "余额", "开户日期", "销户日期"], [
        [card, customer_no, "DEP-T", "1,234.50", "2024-01-02", ""],
        [bad_card, customer_no, "DEP-T", "10", "2024-01-02", ""],            # Luhn
        ["88880000111", "NOPE", "DEP-T", "10", "2024-01-02", ""],            # customer
        ["88880000112", customer_no, "NOPE", "10", "2024-01-02", ""],        # product
        ["88880000113", customer_no, "DEP-T", "-5", "2024-01-02", ""],       # negative
        ["88880000114", customer_no, "DEP-T", "5", "2024-01-02", "2023-01-01"],  # closed < open
        ["88880000115", customer_no, "DEP-T", "１２，３４５．６７", "2024年1月2日", ""],
    ])
    first = commit(accounts, kind="accounts", mode="skip_bad")
    expected_good = 2
    assert first["created"] == expected_good and first["rejected"] == 7 - expected_good
    again = commit(accounts, kind="accounts", mode="skip_bad")
    assert again["created"] == 0 and again["unchanged"] == expected_good
    stored = db.session.execute(db.select(Account).where(
        Account.account_no == "88880000115").execution_options(crm_unscoped=True)).scalar_one()
    assert str(stored.balance) == "12345.67"

    before = count(Transaction)
    transactions = csv_bytes(["账号", "交易时间", "金额", "借贷", "渠道", "交易类型"], [
        ["88880000115", "2024-03-05 10:00", "100.00", "贷", "手机银行", "salary"],
        ["88880000115", "2024-03-05 10:00", "100.00", "贷", "手机银行", "salary"],  # 2 coffees
        ["99999999999", "2024-03-05 10:00", "100.00", "贷", "mobile", "salary"],
        ["88880000115", "2024-03-05 11:00", "0", "贷", "mobile", "salary"],
        ["88880000115", "2024-03-05 12:00", "5", "横", "mobile", "salary"],
    ])
    first = commit(transactions, kind="transactions", mode="skip_bad")
    assert (first["created"], first["rejected"]) == (2, 3)
    assert count(Transaction) == before + 2
    again = commit(transactions, kind="transactions", mode="skip_bad")
    assert (again["created"], again["unchanged"]) == (0, 2)
    assert count(Transaction) == before + 2
    stored = db.session.execute(db.select(Transaction).where(
        Transaction.account_id == stored.id).execution_options(crm_unscoped=True)).scalars().all()
    assert {t.occurred_at for t in stored} == {dt.datetime(2024, 3, 5, 2, 0)}  # Shanghai -> UTC
