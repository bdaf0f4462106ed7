"""Keyset pages: past the numbered pages a list moves by sort keys, not by growing offsets.

The module adds its own customers (one name prefix, names shared in pairs so the primary-key
tie-breaker matters) and operation-log rows (one actor name), lowers the numbered-page limit to
a few rows, and walks the lists through the links the page itself offers: every row must come
exactly once and in order, forwards and backwards, and the keyset pages' SQL has no OFFSET.
"""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

PREFIX = "翻页客户"
CUSTOMERS = 23
LOG_ROWS = 11
ACTOR = "keyset-walker"
_ROW = re.compile(r"<td>\s*(K9\d{8})\s*</td>")
_LOG_ROW = re.compile(r"<td>\s*(\d+)\s*</td>\s*<td>[^<]*</td>\s*<td>\s*" + ACTOR)
_NEXT = re.compile(r'<a href="([^"]+)" rel="next"')
_PREV = re.compile(r'<a href="([^"]+)" rel="prev"')
_COUNT = re.compile(r'<div class="pull-right">\s*<strong>[^<]*</strong>\s*([0-9]+\+?)\s*</div>')


@pytest.fixture(scope="module")
def paged(app, world):
    """The module's customers (numbers K9000000xx) and log rows; numbered pages end at row 4."""
    from backoffice.audit.log import build_row, write
    from backoffice.extensions import db
    from models import Customer
    from tests.support.world import make_prc_id

    with app.app_context():
        for n in range(CUSTOMERS):
            birth = dt.date(1970 + n % 30, 1 + n % 12, 1 + n % 28)
            db.session.add(Customer(
                customer_no=f"K9{n:08d}", name=f"{PREFIX}{chr(0x4e00 + n // 2)}",
                customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, 700 + n, male=False),
                branch_id=world.branches["B1"], owner_id=world.staff["rm1"], status="active",
                custom_fields={}, onboarded_on=dt.date(2022, 1, 1), tier="mass"))
        db.session.commit()
        rows = write([build_row("view_customer", entity="Customer", entity_id=n, actor=ACTOR)
                      for n in range(LOG_ROWS)])
        log_ids = [row["id"] for row in rows]
        names = dict(db.session.execute(
            db.select(Customer.customer_no, Customer.name).where(
                Customer.customer_no.like("K9%"))).all())
        db.session.remove()
    previous = app.config.get("CRM_LIST_NUMBERED_ROWS")
    app.config["CRM_LIST_NUMBERED_ROWS"] = 4
    yield {"names": names, "log_ids": log_ids}
    if previous is None:
        app.config.pop("CRM_LIST_NUMBERED_ROWS")
    else:
        app.config["CRM_LIST_NUMBERED_ROWS"] = previous
    with app.app_context():  # no other test's first page holds them
        db.session.execute(db.delete(Customer).where(Customer.customer_no.like("K9%"))
                           .execution_options(synchronize_session=False))
        db.session.commit()
        db.session.remove()


def _filter(app, view_name, column, arg_name):
    view = next(v for v in app.appbuilder.baseviews if v.__class__.__name__ == view_name)
    filters = view._filters._search_filters[column]
    index = next(n for n, f in enumerate(filters) if f.arg_name == arg_name)
    return f"_flt_{index}_{column}"


def _walk(client, url, pattern, link):
    """Follow ``link`` (next or previous) from ``url``; the rows of each page and the URLs."""
    pages, urls = [], []
    while url and len(pages) < 50:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        pages.append(pattern.findall(body))
        urls.append(url)
        found = link.search(body)
        url = html.unescape(found.group(1)) if found else None
    return pages, urls


def _customer_list(app, order=""):
    name = _filter(app, "CustomerView", "name", "sw")
    return f"/customers/list/?{name}={PREFIX}&psize_CustomerView=2{order}"


def test_customer_list_walks_every_row_once_forwards_and_backwards(app, client_as, paged):
    """By customer number: pages 1-2 are numbered, the rest carry the last row's key; the
    "previous" links from the last page lead back through the same rows in reverse."""
    client = client_as("senior")
    pages, urls = _walk(client, _customer_list(app), _ROW, _NEXT)
    rows = [row for page in pages for row in page]
    assert rows == sorted(paged["names"]), rows
    assert all(len(page) == 2 for page in pages[:-1])
    assert "page_CustomerView=1" in urls[1]
    assert all("after_CustomerView=" in url for url in urls[2:]), urls
    back, _urls = _walk(client, urls[-1], _ROW, _PREV)
    assert [row for page in reversed(back) for row in page] == rows


def test_keyset_walk_by_a_shared_name_descending_keeps_ties_in_key_order(app, client_as, paged):
    """Names come in pairs: the key's primary key keeps each pair whole across page ends."""
    client = client_as("senior")
    url = _customer_list(app, "&_oc_CustomerView=name&_od_CustomerView=desc")
    pages, urls = _walk(client, url, _ROW, _NEXT)
    rows = [row for page in pages for row in page]
    names = paged["names"]
    assert len(rows) == len(set(rows)) == CUSTOMERS
    assert [names[r] for r in rows] == sorted(names.values(), reverse=True)
    assert any("after_CustomerView=" in u for u in urls)


def test_keyset_page_reads_no_offset(app, client_as, paged):
    """The page after a key is a range read from the key: no OFFSET in its SQL."""
    client = client_as("senior")
    _pages, urls = _walk(client, _customer_list(app), _ROW, _NEXT)
    deep = urls[-1]
    assert "after_CustomerView=" in deep
    from sqlalchemy import event

    from backoffice.extensions import db

    client.get(deep)
    with app.app_context():
        engine = db.engine
    seen = []

    def before(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        assert client.get(deep).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    listing = [(s, p) for s, p in seen
               if s.lstrip().startswith("SELECT customer.") and "LIMIT" in s]
    assert len(listing) == 1, [s for s, _p in seen]
    statement, parameters = listing[0]
    assert "ORDER BY customer.customer_no ASC, customer.id ASC" in statement
    if "OFFSET" in statement:  # SQLite always writes one: it must skip nothing
        assert list(parameters)[-1] == 0, (statement, parameters)


def test_a_broken_key_shows_the_first_page_with_a_message(app, client_as, paged):
    client = client_as("senior")
    response = client.get(_customer_list(app) + "&after_CustomerView=not-a-key%21",
                          follow_redirects=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _ROW.findall(body) == sorted(paged["names"])[:2]
    assert "Traceback" not in body
    from backoffice.pagination import decode_key

    with pytest.raises(ValueError):
        decode_key("not-a-key!")


def crafted_key(*parts) -> str:
    import base64
    import json

    text = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize("parts", [
    ["customer_no", "asc", "s", "T0001", 10 ** 30],  # no row id is that large
    ["customer_no", "asc", "i", 10 ** 30, 1],
    ["customer_no", "asc", "n", "1E1000000", 1],  # no number the database holds
])
def test_a_crafted_key_out_of_range_is_a_broken_key(app, client_as, paged, parts):
    """Page keys travel in the URL unsigned: values no column can hold are refused as a broken
    key (first page, a message), never passed to the database to overflow there."""
    from backoffice.pagination import decode_key

    key = crafted_key(*parts)
    with pytest.raises(ValueError):
        decode_key(key)
    client = client_as("senior")
    response = client.get(_customer_list(app) + f"&after_CustomerView={key}",
                          follow_redirects=True)
    assert response.status_code == 200
    assert _ROW.findall(response.get_data(as_text=True)) == sorted(paged["names"])[:2]


def test_a_key_of_another_order_starts_the_new_order_at_the_top(app, client_as, paged):
    """After a click on a column header the old key (by number) does not apply to names."""
    from backoffice.pagination import encode_key

    client = client_as("senior")
    numbers = sorted(paged["names"])
    key = encode_key("customer_no", "asc", numbers[10], 0)
    url = _customer_list(app, f"&_oc_CustomerView=name&_od_CustomerView=asc"
                              f"&after_CustomerView={key}")
    body = client.get(url).get_data(as_text=True)
    names = paged["names"]
    first = _ROW.findall(body)
    assert [names[r] for r in first] == sorted(names.values())[:2]


def test_scoped_keyset_pages_and_count_show_only_the_scope(app, client_as, paged):
    """rm3 (branch B2) sees none of these B1 customers on any page; rm1 (their owner) all, and
    the capped count (a count of keys only) counts the scope, not the table."""
    rows_rm3, _ = _walk(client_as("rm3"), _customer_list(app), _ROW, _NEXT)
    assert [r for page in rows_rm3 for r in page] == []
    client = client_as("rm1")
    pages, _ = _walk(client, _customer_list(app), _ROW, _NEXT)
    assert [r for page in pages for r in page] == sorted(paged["names"])
    body = client.get(_customer_list(app)).get_data(as_text=True)
    assert _COUNT.search(body).group(1) == str(CUSTOMERS)


def test_every_page_shows_the_scope_count(app, client_as, paged):
    """The count comes with each page's own rows (one statement): numbered pages, keyset pages
    and an empty page past the end all say the same count, rm3's pages say none."""
    client = client_as("rm1")
    _pages, urls = _walk(client, _customer_list(app), _ROW, _NEXT)
    assert any("after_CustomerView=" in url for url in urls)
    for url in urls + [_customer_list(app) + "&page_CustomerView=1"]:
        body = client.get(url).get_data(as_text=True)
        assert _COUNT.search(body).group(1) == str(CUSTOMERS), url
    name = _filter(app, "CustomerView", "name", "sw")
    pair = f"/customers/list/?{name}={PREFIX}{chr(0x4e00)}&psize_CustomerView=2"  # two rows
    body = client.get(pair + "&page_CustomerView=1").get_data(as_text=True)
    assert _ROW.findall(body) == [] and _COUNT.search(body).group(1) == "2"
    body = client_as("rm3").get(_customer_list(app)).get_data(as_text=True)
    assert _ROW.findall(body) == [] and _COUNT.search(body).group(1) == "0"


def test_an_unfiltered_list_counts_its_first_keys_without_an_estimate(app, client_as, paged):
    """No filter, no planner's estimate: the capped count reads at most ``cap + 1`` keys."""
    from sqlalchemy import event

    from backoffice.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    app.config["CRM_LIST_COUNT_CAP"] = 3
    event.listen(engine, "before_cursor_execute", before)
    try:
        body = client_as("senior").get("/customers/list/").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        app.config.pop("CRM_LIST_COUNT_CAP")
    assert _COUNT.search(body).group(1) == "3+"
    assert not [s for s in seen if s.startswith("EXPLAIN")]


def test_operation_log_walks_newest_first_by_key(app, client_as, paged):
    client = client_as("auditor")
    actor = _filter(app, "AuditLogView", "actor_username", "eq")
    url = f"/auditlog/list/?{actor}={ACTOR}&psize_AuditLogView=3"
    pages, urls = _walk(client, url, _LOG_ROW, _NEXT)
    ids = [int(i) for page in pages for i in page]
    assert ids == sorted(paged["log_ids"], reverse=True)
    assert any("after_AuditLogView=" in u for u in urls)


def test_capped_count_says_more_than_the_cap(app, client_as, paged):
    """Above ``CRM_LIST_COUNT_CAP`` the list says "cap+" instead of counting every row."""
    client = client_as("senior")
    app.config["CRM_LIST_COUNT_CAP"] = 5
    try:
        body = client.get(_customer_list(app)).get_data(as_text=True)
    finally:
        app.config.pop("CRM_LIST_COUNT_CAP")
    assert _COUNT.search(body).group(1) == "5+"


def test_broad_lists_on_postgresql_say_cap_plus_from_the_estimate(app, client_as, paged):
    """PostgreSQL: when the planner expects ten times the count cap or more, the list says
    "cap+" without running the count; a user whose scope holds fewer rows than the cap still
    gets the exact count (the estimate is made with the record scope, not over the whole table).

    rm3's real number of customers is read first (with the cap out of the way): other tests
    may have left customers in rm3's scope, and the claim is about a scope at most the cap."""
    from sqlalchemy import event, text

    from backoffice.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row estimates come from PostgreSQL's planner")
        with db.engine.connect() as connection:
            connection.execute(text("ANALYZE customer"))
            connection.commit()
        engine = db.engine
    app.config["CRM_LIST_COUNT_CAP"] = 1_000_000
    try:
        rm3_rows = int(_COUNT.search(client_as("rm3").get("/customers/list/").get_data(
            as_text=True)).group(1))
    finally:
        app.config.pop("CRM_LIST_COUNT_CAP")
    assert rm3_rows >= 1
    seen = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    status = _filter(app, "CustomerView", "status", "eq")
    try:
        app.config["CRM_LIST_COUNT_CAP"] = 1
        senior = client_as("senior").get(f"/customers/list/?{status}=active").get_data(
            as_text=True)
        counted_for_senior = [s for s in seen if "count(" in s and "FROM customer" in s]
        seen_before_rm3 = list(seen)
        seen.clear()
        app.config["CRM_LIST_COUNT_CAP"] = rm3_rows
        rm3 = client_as("rm3").get("/customers/list/").get_data(as_text=True)
        counted_for_rm3 = [s for s in seen if "count(" in s and "FROM customer" in s]
    finally:
        event.remove(engine, "before_cursor_execute", before)
        app.config.pop("CRM_LIST_COUNT_CAP")
    assert _COUNT.search(senior).group(1) == "1+"
    assert counted_for_senior == []
    assert any(s.startswith("EXPLAIN") for s in seen_before_rm3), "the filter was estimated"
    assert _COUNT.search(rm3).group(1) == str(rm3_rows)
    assert counted_for_rm3, "rm3's scope is small: its rows are counted"
