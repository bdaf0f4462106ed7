"""A customer import without an owner still gives every new customer a relationship manager of
its branch (smallest book first), so some RM sees them; a named owner is kept, an existing
customer's owner is left alone, and tellers never become owners."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.imports.default_owner import book_owner_roles
from models import Customer
from tests.imports.conftest import commit, csv_bytes, customers_with_prefix
from tests.support.world import make_prc_id

UNSCOPED = {"crm_unscoped": True}


def _book(staff_id: int) -> int:
    return db.session.execute(select(func.count(Customer.id)).where(
        Customer.owner_id == staff_id, Customer.status != "closed")
        .execution_options(**UNSCOPED)).scalar()


def _row(number: str, serial: int, branch: str, owner: str = "") -> list:
    birth = dt.date(1981, 1 + serial % 12, 1 + serial % 28)
    return [number, f"新客户{serial}", make_prc_id(birth, 400 + serial), branch, owner]


def test_book_owners_are_the_relationship_managers():
    assert book_owner_roles() == ["RelationshipManager"]


def test_new_customers_without_an_owner_go_to_the_branch_relationship_managers(imports, world):
    rm1, rm2, rm3 = (world.staff[name] for name in ("rm1", "rm2", "rm3"))
    before = _book(rm1) - _book(rm2)
    header = ["客户号", "姓名", "身份证号", "支行", "客户经理"]
    rows = [_row(f"DOWN{i}", i, "B1") for i in range(4)]
    rows += [_row("DOWN4", 4, "B2"), _row("DOWN5", 5, "B1", "rm2")]

    summary = commit(csv_bytes(header, rows))

    assert summary["status"] == "committed" and summary["created"] == 6
    stored = {c.customer_no: c for c in customers_with_prefix("DOWN")}
    assert {stored[f"DOWN{i}"].owner_id for i in range(4)} <= {rm1, rm2}
    assert stored["DOWN4"].owner_id == rm3  # the only RM of branch B2
    assert stored["DOWN5"].owner_id == rm2  # named in the file: kept
    # Four unowned customers fill the smaller book first: the gap closes by four (or to 0/1).
    gap = abs(before)
    after = abs(_book(rm1) - (_book(rm2) - 1))  # leave out the one the file named
    assert after == (gap - 4 if gap > 4 else (gap - 4) % 2)


def test_a_file_without_an_owner_column_gives_owners_too(imports, world):
    header = ["客户号", "姓名", "身份证号", "支行"]
    rows = [_row(f"DNOC{i}", 10 + i, "B2")[:4] for i in range(2)]

    summary = commit(csv_bytes(header, rows))

    assert summary["created"] == 2
    assert {c.owner_id for c in customers_with_prefix("DNOC")} == {world.staff["rm3"]}


def test_an_update_leaves_the_existing_owner(imports, world):
    header = ["客户号", "姓名", "身份证号", "支行"]
    commit(csv_bytes(header, [_row("DUPD0", 20, "B2")[:4]]))
    customer = customers_with_prefix("DUPD")[0]
    customer.owner_id = None  # an older customer nobody owns: imports do not reassign it
    db.session.commit()

    summary = commit(csv_bytes(["客户号", "姓名"], [["DUPD0", "改名客户"]]))

    assert summary["updated"] == 1
    db.session.expire_all()
    assert customers_with_prefix("DUPD")[0].owner_id is None
