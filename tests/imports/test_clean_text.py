"""Names and identifiers are clean on every path: import, form, API and the model itself.

Invisible characters (zero-width, bidirectional overrides, a BOM inside text) and control
characters (the ESC of an ANSI escape) are refused with the row, the column and the character
named; full-width digits and letters in identifiers are folded (NFKC), so two customer numbers
that look identical can never both exist.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from models import Customer
from models import validators as v
from tests.imports.conftest import commit, count, csv_bytes, customers_with_prefix
from tests.support.web import api_token, post_form
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "身份证号", "手机号", "支行"]
BIRTH = dt.date(1986, 4, 12)
RLO, ZWSP, ESC, BOM = "\u202e", "\u200b", "\x1b", "\ufeff"


def report_lines(batch_id: int) -> list[str]:
    """Every (row, column, message) of the batch's error report, as text."""
    import io

    from openpyxl import load_workbook

    from backoffice.imports import files

    data = files.load(db.session, batch_id, "report")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [" | ".join(str(c) for c in row if c is not None)
            for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("name, character", [
    (f"张三{RLO}丰", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    (f"李四{ESC}[31m", "U+001B ESCAPE"),
    (f"王{ZWSP}五", "U+200B ZERO WIDTH SPACE"),
    (f"赵{BOM}六", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("钱\u2066七", "U+2066 LEFT-TO-RIGHT ISOLATE"),
])
def test_a_name_with_an_invisible_or_control_character_is_refused(imports, name, character):
    rows = [["CT1A001", "好名字", make_prc_id(BIRTH, 11), "13911110001", "B1"],
            ["CT1A002", name, make_prc_id(BIRTH, 12), "13911110002", "B1"]]
    result = commit(csv_bytes(HEADER, rows), mode="skip_bad")
    assert result["created"] == 1 and result["rejected"] == 1, result
    lines = report_lines(result["batch_id"])
    wanted = [line for line in lines if character in line]
    assert wanted, lines
    assert "3" in wanted[0] and "姓名" in wanted[0]  # spreadsheet row 3, the name column
    assert [c.name for c in customers_with_prefix("CT1A")] == ["好名字"]


@pytest.mark.parametrize("column, value", [
    (0, f"CT2A{ZWSP}002"), (2, make_prc_id(BIRTH, 22) + RLO), (3, f"1391111{ESC}0002"),
])
def test_an_identifier_with_an_invisible_character_is_refused_not_stripped(imports, column,
                                                                          value):
    """Dropping the character silently would let a number that differs from a stored one only
    by it slip in: it is refused, under its column."""
    row = ["CT2A002", "钱二", make_prc_id(BIRTH, 21), "13911110012", "B1"]
    row[column] = value
    result = commit(csv_bytes(HEADER, [row]), mode="skip_bad")
    assert result["rejected"] == 1 and result["created"] == 0, result
    lines = report_lines(result["batch_id"])
    assert any(HEADER[column] in line and "U+" in line for line in lines), lines


def test_full_width_identifiers_are_folded_and_imported(imports):
    full = str.maketrans("0123456789CT", "０１２３４５６７８９ＣＴ")
    number = make_prc_id(BIRTH, 31)
    result = commit(csv_bytes(HEADER, [["CT3A001".translate(full), "孙三",
                                        number.translate(full), "13911110031".translate(full),
                                        "B1"]]))
    assert result["created"] == 1, result
    created = customers_with_prefix("CT3A")
    assert [(c.customer_no, c.id_number, c.mobile) for c in created] == [
        ("CT3A001", number, "13911110031")]


def test_a_look_alike_customer_number_updates_the_customer_it_looks_like(imports):
    """``ＣＴ４Ａ００１`` is ``CT4A001``: the second file updates that customer, it never makes
    a second one; a Cyrillic ``С`` (a letter that only looks Latin) is refused."""
    first = commit(csv_bytes(HEADER, [["CT4A001", "周四", make_prc_id(BIRTH, 41),
                                       "13911110041", "B1"]]))
    assert first["created"] == 1, first
    full_width = "ＣＴ４Ａ００１"
    again = commit(csv_bytes(["客户号", "姓名"], [[full_width, "周四改"]]))
    assert again["created"] == 0 and again["updated"] == 1, again
    cyrillic = commit(csv_bytes(["客户号", "姓名"], [["\u0421T4A001", "周四假"]]),
                      mode="skip_bad")
    assert cyrillic["rejected"] == 1 and cyrillic["created"] == 0, cyrillic
    lines = report_lines(cyrillic["batch_id"])
    assert any("U+0421 CYRILLIC CAPITAL LETTER ES" in line for line in lines), lines
    assert [(c.customer_no, c.name) for c in customers_with_prefix("CT4A")] == [
        ("CT4A001", "周四改")]
    assert count(Customer, Customer.name == "周四假") == 0


def test_the_model_normalises_every_written_customer_number(app, world):
    """Every ORM writer (form, API, review, scripts) goes through the model's hook: a
    full-width number is stored folded, so the unique index refuses its look-alike twin; an
    invisible character is refused before anything reaches the database."""
    with app.app_context():
        branch = world.branches["B1"]
        try:
            first = Customer(customer_no="ＣＴ５Ａ００１", name="吴五", id_type="PRC_ID",
                             id_number=make_prc_id(BIRTH, 51), branch_id=branch)
            assert first.customer_no == "CT5A001"
            db.session.add(first)
            db.session.commit()
            twin = Customer(customer_no="CT5A001\u3000", name="吴五二", id_type="PRC_ID",
                            id_number=make_prc_id(BIRTH, 52), branch_id=branch)
            assert twin.customer_no == "CT5A001"
            db.session.add(twin)
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()
            with pytest.raises(v.InvalidValue) as refused:
                Customer(customer_no=f"CT5A{ZWSP}001", name="吴五三")
            assert "U+200B ZERO WIDTH SPACE" in str(refused.value)
            with pytest.raises(v.InvalidValue) as refused:
                Customer(customer_no="CT5A009", name=f"吴{RLO}五")
            assert refused.value.field == "name"
        finally:
            db.session.rollback()
            for customer in db.session.scalars(select(Customer).where(
                    Customer.customer_no.like("CT5A%"))
                    .execution_options(crm_unscoped=True)):
                db.session.delete(customer)
            db.session.commit()


def test_the_form_refuses_a_name_with_a_control_character(app, world, client_as):
    """The model's hook refuses it while the form fills the record: FAB shows the message,
    and neither a customer nor a change request (maker-checker) is made."""
    from models import ChangeRequest
    from tests.customers.test_forms import BIRTH as FORM_BIRTH
    from tests.customers.test_forms import customer_form

    client = client_as("rm1")
    with app.app_context():
        customers = db.session.scalar(select(func.count()).select_from(Customer))
        requests = db.session.scalar(select(func.count()).select_from(ChangeRequest))
    response = post_form(client, "/customers/add", customer_form(
        name=f"郑{RLO}六", id_number=make_prc_id(FORM_BIRTH, 61)))
    assert response.status_code in (200, 302)
    assert "/review/show/" not in (response.location or "")
    page = client.get("/customers/list/").get_data(as_text=True)  # where the flash shows
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == customers
        assert db.session.scalar(select(func.count()).select_from(ChangeRequest)) == requests


def test_the_api_refuses_a_name_with_a_control_character(app, client, world):
    headers = {"Authorization": f"Bearer {api_token(client, 'rm2')}"}
    payload = {"name": f"冯{ESC}[2J七", "customer_type": "individual", "gender": "M",
               "birth_date": BIRTH.isoformat(), "id_type": "PRC_ID",
               "id_number": make_prc_id(BIRTH, 71), "mobile": "13700007171",
               "branch": world.branches["B1"], "status": "active"}
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Customer))
    response = client.post("/api/v1/customer/", json=payload, headers=headers)
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    assert "name" in response.json["message"]
    assert "U+001B ESCAPE" in str(response.json["message"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == before


def test_the_validators_name_what_they_refuse():
    assert v.check_clean_text("张三") is None
    assert v.check_clean_text("notes\nline two\tend", allow_breaks=True) is None
    assert "U+000A LINE FEED" in str(v.check_clean_text("one\ntwo"))
    assert "position 3" in str(v.check_clean_text(f"ab{RLO}c"))
    assert v.normalise_prc_id("１１０１０１１９９００３０７１２３ｘ") == "11010119900307123X"
    assert v.normalise_mobile("１３８ ００１３ ８０００") == "13800138000"
    assert v.check_customer_no(v.normalise_customer_no(" ＣＯ１ ")) is None
    assert v.check_customer_no("C O1") is not None
    marker = "MARK7731‮"  # messages reach logs and summaries: never the value itself
    assert "MARK7731" not in str(v.check_clean_text(marker))
    assert "MARK7731" not in str(v.check_customer_no("MARK7731С"))
