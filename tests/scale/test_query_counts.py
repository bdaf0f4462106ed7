"""No N+1: the number of SQL statements a screen runs does not grow with what it shows.

Lists are requested with page size 1 and page size 25: the shared world's customers have
different owners, tellers and branches, so a relation loaded row by row would add statements on
the bigger page. The 360 page is requested for a customer of this module's own before and after
it gains more accounts (on other products), transactions, interactions and tasks.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from tests.support.statements import counting

LISTS = [
    ("senior", "/customers/list/", "CustomerView"),
    ("bm1", "/customers/list/", "CustomerView"),
    ("rm1", "/customers/list/", "CustomerView"),  # own scope: owner or teller on every row
    ("teller1", "/customers/list/", "CustomerView"),
    ("senior", "/interactions/list/", "InteractionView"),
    ("senior", "/followups/list/", "FollowUpView"),
    ("senior", "/accounts/list/", "AccountView"),
    ("senior", "/transactions/list/", "TransactionView"),
    ("auditor", "/auditlog/list/", "AuditLogView"),
]


def statements_for(app, client, url) -> dict:
    client.get(url)  # warm: first-request work (menus, field catalog caches) is not the page's
    with counting(app) as seen:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return seen


def many_to_one(view_name: str, app) -> int:
    from sqlalchemy import inspect
    from sqlalchemy.orm import MANYTOONE

    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == view_name)
    mapper = inspect(view.datamodel.obj)
    return sum(1 for rel in mapper.relationships if rel.direction is MANYTOONE)


@pytest.mark.parametrize("username, url, view", LISTS)
def test_list_statements_do_not_grow_with_the_page_size(app, world, client_as, username, url,
                                                        view):
    """A list of 25 rows loads no relation row by row: the lazy loads are those of a 1-row
    page, and the statements at most one more per related table (a preload that a 1-row page
    skips when that row's relation is empty)."""
    client = client_as(username)
    small = statements_for(app, client, f"{url}?psize_{view}=1")
    large = statements_for(app, client, f"{url}?psize_{view}=25")
    assert len(large["lazy"]) == len(small["lazy"]), large["lazy"]
    assert len(large["statements"]) <= len(small["statements"]) + many_to_one(view, app), (
        f"{url}: {len(small['statements'])} statements for 1 row, "
        f"{len(large['statements'])} for 25:\n"
        + "\n".join(s[:120] for s in large["statements"]))


def test_list_page_reads_permissions_once(app, world, client_as):
    """Menus and buttons check ~25 permissions per page: one read of the user's permissions
    answers all of them (FAB would query once per check)."""
    client = client_as("senior")
    statements = statements_for(app, client, "/customers/list/")["statements"]
    permission_reads = [s for s in statements if "ab_permission_view" in s]
    assert len(permission_reads) <= 2, permission_reads


@pytest.fixture(scope="module")
def own_customer(app, world):
    """A customer of this module's own (own branch and owner: invisible to the world's staff
    except the bank-wide roles), with one record of each kind."""
    from backoffice.extensions import db
    from models import Branch, Customer, Product, Staff
    from tests.support.world import make_prc_id

    with app.app_context():
        branch = Branch(code="QC9", name="查询计数支行", city="南京")
        db.session.add(branch)
        db.session.flush()
        owner = db.session.get(Staff, world.staff["senior"])
        customer = Customer(
            customer_no="Q900000001", name="查询计数客户", customer_type="individual", gender="F",
            birth_date=dt.date(1980, 5, 6), id_type="PRC_ID",
            id_number=make_prc_id(dt.date(1980, 5, 6), 91, male=False),
            mobile="13900990001", branch_id=branch.id, owner_id=owner.id, risk_tolerance="C3",
            status="active", custom_fields={}, onboarded_on=dt.date(2021, 1, 1), tier="mass")
        db.session.add(customer)
        db.session.flush()
        products = [Product(code=f"QC9-{n}", name=f"计数产品{n}", category="deposit",
                            risk_level="R1") for n in range(5)]
        db.session.add_all(products)
        db.session.flush()
        ids = {"customer": customer.id, "products": [p.id for p in products],
               "owner": owner.id}
        _add_records(db.session, ids, [products[0].id], start=0)
        db.session.commit()
        db.session.remove()
    return ids


def _add_records(session, ids, product_ids, start):
    from models import Account, FollowUp, Interaction, Transaction

    now = dt.datetime(2026, 10, 1, 2, 0)
    for n, product_id in enumerate(product_ids, start=start):
        account = Account(account_no=f"62229900000{n:05d}", customer_id=ids["customer"],
                          product_id=product_id, balance=Decimal("100.00"),
                          opened_on=dt.date(2021, 1, 2), status="open")
        session.add(account)
        session.flush()
        session.add_all([
            Transaction(account_id=account.id, customer_id=ids["customer"],
                        occurred_at=now + dt.timedelta(hours=n), amount=Decimal("10.00"),
                        direction="in", channel="mobile", type="transfer_in"),
            Interaction(customer_id=ids["customer"], staff_id=ids["owner"],
                        occurred_at=now + dt.timedelta(hours=n), channel="phone",
                        direction="outbound", topic="inquiry", summary=f"计数 {n}",
                        custom_fields={}),
            FollowUp(customer_id=ids["customer"], assignee_id=ids["owner"], title=f"计数 {n}",
                     task_type="callback", due_at=now + dt.timedelta(days=n + 1),
                     status="open"),
        ])


def test_360_statements_do_not_grow_with_the_records_shown(app, world, client_as,
                                                          own_customer):
    """The 360 page runs the same number of statements for 1 and for 5 accounts (on different
    products), transactions, interactions and tasks."""
    from backoffice.extensions import db

    client = client_as("senior")
    page = f"/customers/show/{own_customer['customer']}"
    # The page and each of its tabs (they load when opened).
    urls = [page] + [f"{page}/tab/{tab}" for tab in (
        "holdings", "transactions", "interactions", "tasks", "marketing", "changes")]
    before = {url: statements_for(app, client, url) for url in urls}
    with app.app_context():
        _add_records(db.session, own_customer, own_customer["products"][1:], start=1)
        db.session.commit()
        db.session.remove()
    for url in urls:
        after = statements_for(app, client, url)
        assert len(after["lazy"]) == len(before[url]["lazy"]), (url, after["lazy"])
        assert len(after["statements"]) == len(before[url]["statements"]), "\n".join(
            [url] + [s[:120] for s in after["statements"]])


def test_an_own_scope_list_loads_no_teller(app, world, client_as):
    """A relationship manager's list checks each row against the scope (owner or teller):
    with customers of several tellers on the page, the check reads the id columns and loads no
    teller, so the statements are those of a one-row page; and the count of an own book is
    made without asking the planner's estimate first."""
    from sqlalchemy import delete

    from backoffice.extensions import db
    from models import Customer
    from tests.support.world import make_prc_id

    tellers = [world.staff[name] for name in ("teller1", "rm2", "rm3", "bm1")]
    numbers = [f"Q9T{n:07d}" for n in range(len(tellers))]
    with app.app_context():
        db.session.add_all(Customer(
            customer_no=number, name=f"柜员{n}", customer_type="individual", gender="M",
            birth_date=dt.date(1981, 1, 1 + n), id_type="PRC_ID",
            id_number=make_prc_id(dt.date(1981, 1, 1 + n), 93, male=True),
            branch_id=world.branches["B1"], owner_id=world.staff["rm1"], teller_id=teller,
            status="active", custom_fields={}, onboarded_on=dt.date(2021, 1, 1), tier="mass")
            for n, (number, teller) in enumerate(zip(numbers, tellers)))
        db.session.commit()
        db.session.remove()
    try:
        client = client_as("rm1")
        url = "/customers/list/?_flt_0_customer_no=Q9T&_oc_CustomerView=customer_no"
        small = statements_for(app, client, f"{url}&psize_CustomerView=1")
        large = statements_for(app, client, f"{url}&psize_CustomerView=25")
        page = client.get(f"{url}&psize_CustomerView=25").get_data(as_text=True)
        assert all(number in page for number in numbers)
        assert len(large["lazy"]) == len(small["lazy"]), large["lazy"]
        assert len(large["statements"]) == len(small["statements"]), large["statements"]
        # An own book's capped count is cheap: no plan is asked first (PostgreSQL only).
        assert not [s for s in large["statements"] if s.lstrip().upper().startswith("EXPLAIN")]
    finally:
        with app.app_context():
            db.session.execute(delete(Customer).where(Customer.customer_no.in_(numbers)))
            db.session.commit()
            db.session.remove()
