"""A customer import without an owner still gives every new customer a relationship manager of
its branch (smallest book first), so some RM sees them; a named owner is kept, an existing
customer's owner is left alone, and tellers never become owners."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from backoffice.extensions import db
from backoffice.imports.default_owner import book_owners
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


def test_book_owners_are_the_relationship_managers(imports, world):
    """As shipped, the grant is the relationship managers' alone: not tellers, who serve their
    own customers without owning a book, nor the branch and senior managers."""
    from config.roles import BOOK_OWNER, ROLES

    assert [name for name, spec in ROLES.items()
            if BOOK_OWNER[0] in spec["permissions"]] == ["RelationshipManager"]
    owners = set(db.session.execute(book_owners()).scalars())
    assert {world.staff[name] for name in ("rm1", "rm2", "rm3")} <= owners
    assert not owners & {world.staff[name] for name in ("teller1", "bm1", "senior")}


def _relationship_managers(branch_id: int) -> list[int]:
    """The branch's active book owners now (other tests may have imported more)."""
    from models import Staff

    return sorted(db.session.execute(
        book_owners().where(Staff.branch_id == branch_id)).scalars())


def _filled(books: list[int], units: int) -> list[int]:
    """Books after giving ``units`` customers one at a time to the smallest book (the result
    does not depend on how ties are broken)."""
    books = sorted(books)
    for _ in range(units):
        books[0] += 1
        books.sort()
    return books


def test_new_customers_without_an_owner_go_to_the_branch_relationship_managers(imports, world):
    rm2 = world.staff["rm2"]
    b1_rms = _relationship_managers(world.branches["B1"])
    b2_rms = _relationship_managers(world.branches["B2"])
    assert rm2 in b1_rms and world.staff["rm3"] in b2_rms
    before = {rm: _book(rm) for rm in b1_rms}
    header = ["客户号", "姓名", "身份证号", "支行", "客户经理"]
    rows = [_row(f"DOWN{i}", i, "B1") for i in range(4)]
    rows += [_row("DOWN4", 4, "B2"), _row("DOWN5", 5, "B1", "rm2")]

    summary = commit(csv_bytes(header, rows))

    assert summary["status"] == "committed" and summary["created"] == 6
    stored = {c.customer_no: c for c in customers_with_prefix("DOWN")}
    assert {stored[f"DOWN{i}"].owner_id for i in range(4)} <= set(b1_rms)
    assert stored["DOWN4"].owner_id in b2_rms
    assert stored["DOWN5"].owner_id == rm2  # named in the file: kept
    # The four unowned customers went to the smallest books first.
    after = {rm: _book(rm) - (1 if rm == rm2 else 0) for rm in b1_rms}  # less the named one
    assert sorted(after.values()) == _filled(list(before.values()), 4)


def test_a_file_without_an_owner_column_gives_owners_too(imports, world):
    header = ["客户号", "姓名", "身份证号", "支行"]
    rows = [_row(f"DNOC{i}", 10 + i, "B2")[:4] for i in range(2)]

    summary = commit(csv_bytes(header, rows))

    assert summary["created"] == 2
    assert {c.owner_id for c in customers_with_prefix("DNOC")} <= set(
        _relationship_managers(world.branches["B2"]))


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


@pytest.fixture
def book_moved_to_a_new_role(app, imports, world):
    """In this test only: the book grant belongs to a role named nothing like a relationship
    manager (one member, in B2), and the relationship managers' role no longer holds it."""
    from config.roles import BOOK_OWNER
    from models import Staff

    sm = app.appbuilder.sm
    [(permission, view)] = BOOK_OWNER
    grant = sm.add_permission_view_menu(permission, view)
    managers = sm.find_role("RelationshipManager")
    keeper_role = sm.find_role("客户维护岗") or sm.add_role("客户维护岗")
    sm.add_permission_role(keeper_role, grant)
    managers.permissions.remove(grant)
    keeper = sm.add_user(username="book_keeper_b2", first_name="维护", last_name="客户",
                         email="book_keeper_b2@example.com", role=keeper_role,
                         password="Keeper-Passw0rd!2026")
    keeper.branch_id = world.branches["B2"]
    db.session.commit()
    keeper_id = keeper.id
    try:
        yield keeper_id
    finally:
        db.session.rollback()
        managers = sm.find_role("RelationshipManager")
        managers.permissions.append(sm.add_permission_view_menu(permission, view))
        db.session.execute(update(Customer).where(Customer.owner_id == keeper_id)
                           .values(owner_id=None).execution_options(**UNSCOPED))
        keeper = db.session.get(Staff, keeper_id)
        keeper.roles = []
        db.session.delete(keeper)
        db.session.delete(sm.find_role("客户维护岗"))
        db.session.commit()


def test_the_grant_decides_the_owner_not_the_role_name(imports, world, book_moved_to_a_new_role):
    """Default owners are whoever holds the grant in the branch, read from the database."""
    header = ["客户号", "姓名", "身份证号", "支行"]
    rows = [_row(f"DGRT{i}", 30 + i, "B2")[:4] for i in range(2)]

    summary = commit(csv_bytes(header, rows))

    assert summary["created"] == 2
    owners = {c.owner_id for c in customers_with_prefix("DGRT")}
    assert owners == {book_moved_to_a_new_role}  # not rm3, whose role lost the grant
