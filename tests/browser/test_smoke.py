"""A relationship manager's first minutes, in a real browser.

Guards what no test client can see: the login form, the customer form with its select2 and date
widgets, the list search, the 360 page and the language menu all work in Chromium, with every
asset served by the app itself (no CDN). Each step leaves a screenshot in tests/screenshots/.
"""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.web import PASSWORD
from tests.support.world import make_prc_id

BIRTH_DATE = dt.date(1988, 6, 15)


@pytest.fixture
def customer_name(app):
    """A unique customer name; the customer is deleted afterwards so other tests see the seed."""
    name = f"浏览器测试{secrets.token_hex(3)}"
    yield name
    from backoffice.extensions import db
    from models import Customer

    with app.app_context():
        for customer in db.session.query(Customer).filter(Customer.name == name).all():
            db.session.delete(customer)
        db.session.commit()
        db.session.remove()


def form_problems(page) -> str:
    """What stops a form from saving: fields the browser finds invalid and the server's messages."""
    invalid = page.evaluate(
        "() => Array.from(document.querySelectorAll('form :invalid')).map(e => e.name || e.id)")
    alerts = page.locator(".alert").all_inner_texts()
    messages = [" ".join(a.replace("×", "").split())[:400] for a in alerts]
    return f"browser-invalid fields: {invalid}; server messages: {messages}"


def test_login_add_customer_find_it_and_switch_language(page, shoot, live_server, world,
                                                        customer_name):
    base = live_server

    # 1. Log in through the login form.
    page.goto(f"{base}/login/")
    page.fill("#username", "rm1")
    page.fill("#password", PASSWORD)
    shoot("01-login")
    with page.expect_navigation():
        page.locator("form input[type=submit], form button[type=submit]").first.click()
    assert "/login" not in page.url, f"login as rm1 failed: still on {page.url}"
    shoot("02-home")

    # 2. Fill the customer form (select2 wraps the selects: set the underlying <select>).
    page.goto(f"{base}/customers/add")
    page.fill("#name", customer_name)
    page.select_option("#customer_type", "individual")
    page.select_option("#gender", "F")
    # Typed key by key: the date picker keeps its own copy of the date, updated on key-up,
    # and writes that copy back when it closes (a plain fill() would be erased).
    page.locator("#birth_date").press_sequentially(BIRTH_DATE.isoformat())
    page.keyboard.press("Escape")  # close the date picker
    page.select_option("#id_type", "PRC_ID")
    page.fill("#id_number", make_prc_id(BIRTH_DATE, 321, male=False))
    page.fill("#mobile", "13912345678")
    page.fill("#email", "li.na@example.com")
    page.select_option("#branch", str(world.branches["B1"]))
    page.select_option("#status", "active")
    shoot("03-add-form")
    try:
        with page.expect_navigation(timeout=20_000):
            page.locator("#model_form button[type=submit]").click()
    except PlaywrightTimeout:
        pass  # the browser itself refused to submit the form: reported just below
    # A relationship manager's new customer is a change request (maker-checker review): the
    # browser lands on the request, and a branch manager approves it in a browser of their own.
    if page.locator(".alert-info").count() != 1 or page.locator("#change-request").count() != 1:
        shoot("03-add-refused")
        pytest.fail(f"saving the customer failed ({page.url}): {form_problems(page)}")
    shoot("04-submitted-for-review")
    request_url = page.url
    reviewer = page.context.browser.new_context(locale="zh-CN",
                                                viewport={"width": 1280, "height": 900})
    try:
        review_page = reviewer.new_page()
        review_page.goto(f"{base}/login/")
        review_page.fill("#username", "bm1")
        review_page.fill("#password", PASSWORD)
        with review_page.expect_navigation():
            review_page.locator("form input[type=submit], form button[type=submit]").first.click()
        review_page.goto(request_url)
        assert "139****5678" in review_page.content()  # the reviewer's diff is masked
        with review_page.expect_navigation():
            review_page.locator("#approve-form button[type=submit]").click()
        assert review_page.locator(".alert-success").count() == 1, review_page.content()[:2000]
    finally:
        reviewer.close()

    # 3. Find it in the list through the search panel.
    page.goto(f"{base}/customers/list/")
    page.locator("a.accordion-toggle").first.click()
    page.locator("#filter_form button.dropdown-toggle").click()
    page.locator("#filter_form a.filter[name=name]").click()
    search_input = page.locator("#filter_form table.filters input[name$='_name']").last
    search_input.fill(customer_name)
    with page.expect_navigation():
        page.locator("#filter_form button[type=submit]").click()
    rows = page.locator("table tbody tr", has_text=customer_name)
    assert rows.count() == 1, f"searching {customer_name!r} found {rows.count()} rows"
    shoot("05-search")

    # 4. Open it: the 360 page with its action buttons.
    with page.expect_navigation():
        rows.first.locator("a[href*='/customers/show/']").first.click()
    page.locator("#record-interaction").wait_for(state="visible")
    assert customer_name in page.content()
    shoot("06-customer-360")

    # 5. Switch the language through FAB's language menu, and back.
    list_title = page.locator(".panel-primary > .panel-heading .panel-title").first
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/customers/list/")
    assert list_title.inner_text().strip() == "Customers"
    assert page.locator("a[href='/lang/zh']").count() == 1, "no way back to Chinese"
    shoot("07-english")

    page.goto(f"{base}/lang/zh")
    page.goto(f"{base}/customers/list/")
    assert list_title.inner_text().strip() == "客户"
    assert page.locator("a[href='/lang/en']").count() == 1, "no way to English"
    shoot("08-chinese")
