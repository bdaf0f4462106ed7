"""The navigation bar's search box and the theme, in a real browser.

Guards what a test client cannot see: the debounced script (served by the app, run under the
CSP nonce) shows hits while the user types, Enter opens the 360 page of a single hit, and the
English menu of the role with the most menus fits one row of the navigation bar at 1280 px.
"""
from __future__ import annotations

import datetime as dt

import pytest

from backoffice.notifications.views import BELL_CAP
from tests.browser.steps import sign_in

# One row of the navigation bar: its min-height (crm.css); two rows would be about twice this.
NAVBAR_ROW = 48


def navbar_height(page) -> float:
    return page.evaluate("() => document.getElementById('crm-navbar').getBoundingClientRect()"
                         ".height")


def menu_rows(page) -> int:
    """How many rows the top-level menu items, the search box and the right side take: items
    whose top is at or below the bottom of the first row start a new one."""
    return page.evaluate("""(row) => {
        const bar = document.getElementById('crm-navbar').getBoundingClientRect();
        const rows = new Set();
        navbarItems().forEach(e => rows.add(
            Math.floor((e.getBoundingClientRect().top - bar.top) / row)));
        return rows.size;
        function navbarItems() {
            return Array.from(document.querySelectorAll(
                '#crm-navbar .navbar-brand, #crm-navbar .crm-menu > li, #crm-search, '
                + '#crm-navbar .crm-navbar-right > li')).filter(e => e.offsetParent !== null);
        }
    }""", NAVBAR_ROW)


def overlapping_items(page) -> list[str]:
    """Navigation bar items that overlap the next one or stick out of the window (a row that
    does not wrap can still overflow sideways)."""
    return page.evaluate("""() => {
        const items = Array.from(document.querySelectorAll(
            '#crm-navbar .navbar-brand, #crm-navbar .crm-menu > li, #crm-search, '
            + '#crm-navbar .crm-navbar-right > li')).filter(e => e.offsetParent !== null);
        const boxes = items.map(e => [e.getBoundingClientRect(), e.textContent.trim()])
            .sort((a, b) => a[0].left - b[0].left);
        const bad = [];
        boxes.forEach(([box, text], n) => {
            if (box.right > window.innerWidth + 0.5 || box.left < -0.5) { bad.push(text); }
            if (n + 1 < boxes.length && box.right > boxes[n + 1][0].left + 0.5) { bad.push(text); }
        });
        return bad;
    }""")


def unreadable_buttons(page) -> list[str]:
    """Buttons whose text has less than 3:1 contrast with what is behind it (white on white)."""
    return page.evaluate("""() => {
        function rgb(text) { const m = text.match(/[\\d.]+/g) || [];
            return m.map(Number); }
        function luminance([r, g, b]) {
            const c = [r, g, b].map(v => { v /= 255;
                return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
            return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; }
        function background(element) {
            for (let e = element; e; e = e.parentElement) {
                const c = rgb(getComputedStyle(e).backgroundColor);
                if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) { return c.slice(0, 3); }
            }
            return [255, 255, 255]; }
        const bad = [];
        document.querySelectorAll('.btn, button, input[type=submit]').forEach(e => {
            const box = e.getBoundingClientRect();
            if (e.offsetParent === null || box.width === 0 || !e.textContent.trim()
                && e.tagName !== 'INPUT') { return; }
            const fg = luminance(rgb(getComputedStyle(e).color).slice(0, 3));
            const bg = luminance(background(e));
            const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
            if (ratio < 3) { bad.push(`${e.className} "${(e.textContent || e.value).trim()}" `
                                     + ratio.toFixed(2)); }
        });
        return bad;
    }""")


def test_search_box_shows_hits_as_you_type_and_enter_opens_the_360_page(page, shoot,
                                                                      live_server, world):
    base = live_server
    sign_in(page, base, "bm1")
    box = page.locator("#crm-search-input")
    assert box.is_visible(), "no search box in the navigation bar"

    # Typing a name prefix lists the hits in the branch (bm1: B1 has c_rm1 and c_rm2).
    box.press_sequentially("客户c_rm", delay=40)
    page.wait_for_selector("#crm-search-results .crm-search-hit")
    names = page.locator("#crm-search-results .crm-search-hit strong").all_inner_texts()
    assert sorted(names) == ["客户c_rm1", "客户c_rm2"], names  # c_rm3 is in branch B2
    details = " ".join(page.locator("#crm-search-results .crm-search-detail").all_inner_texts())
    assert "1380013" not in details.replace("138****", ""), "mobile shown unmasked"
    shoot("01-typing-shows-hits")

    # Narrowing to one customer and pressing Enter opens that customer's 360 page.
    box.press_sequentially("2", delay=40)
    page.wait_for_function(
        "() => document.querySelectorAll('#crm-search-results .crm-search-hit').length === 1")
    with page.expect_navigation():
        box.press("Enter")
    assert f"/customers/show/{world.customers['c_rm2']}" in page.url, page.url
    shoot("02-enter-opens-360")

    # A customer outside the scope is not found, not hinted at.
    box = page.locator("#crm-search-input")
    box.fill("")
    box.press_sequentially("T000000003", delay=20)
    page.wait_for_selector("#crm-search-results .crm-search-message")
    assert page.locator("#crm-search-results .crm-search-hit").count() == 0
    shoot("03-out-of-scope-not-found")


def test_english_menu_fits_one_row_at_1280(page, shoot, live_server, world):
    base = live_server
    assert page.viewport_size["width"] == 1280
    sign_in(page, base, "senior")  # the role with the most top-level menus
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/customers/list/")
    assert page.locator("a[href='/lang/zh']").count() == 1, "not in English"
    height = navbar_height(page)
    shoot("04-english-menu-1280")
    assert menu_rows(page) == 1, "the English menu wraps onto a second row"
    assert overlapping_items(page) == [], "navigation bar items overlap or overflow"
    # The checks can fail: in a window too narrow for the menu they report it.
    page.set_viewport_size({"width": 800, "height": 900})
    assert menu_rows(page) > 1 or overlapping_items(page), "the row check cannot fail"
    page.set_viewport_size({"width": 1280, "height": 900})
    assert height <= NAVBAR_ROW + 2, f"navigation bar is {height}px high: more than one row"
    # The Chinese menu too (it is the default).
    page.goto(f"{base}/lang/zh")
    page.goto(f"{base}/customers/list/")
    shoot("05-chinese-menu-1280")
    assert menu_rows(page) == 1 and navbar_height(page) <= NAVBAR_ROW + 2
    assert overlapping_items(page) == []
    # The theme is in force: the system font stack that suits Chinese, a local favicon.
    font = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "PingFang SC" in font and "Microsoft YaHei" in font, font
    icon = page.evaluate("() => document.querySelector('link[rel=icon]').href")
    assert icon.startswith(base + "/static/"), icon
    assert page.request.get(icon).status == 200


MAIN_PAGES = {
    "senior": ["/", "/customers/list/", "/customers/show/{c_rm1}", "/customers/edit/{c_rm1}",
               "/followups/list/", "/service/counter/?q=T000000002", "/campaigns/",
               "/segments/", "/review/pending/", "/customers/search/open?q=客户"],
    "admin": ["/", "/users/list/", "/customfields/list/", "/imports/"],
    "auditor": ["/auditlog/list/"],
}


@pytest.fixture
def full_bells(app, world):
    """Every seeded member of staff with more unread notifications than the bell counts, so
    that it shows its widest text ("99+") whatever earlier tests left unread: the menu must fit
    with it, not only with an empty bell."""
    import uuid

    from backoffice.extensions import db
    from models.notifications import Notification

    marker = f"menu-width-{uuid.uuid4().hex[:12]}"
    table = Notification.__table__
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(table.insert(), [
            {"recipient_id": staff_id, "kind": "mention", "entity": marker,
             "created_at": dt.datetime(2026, 11, 1, 8, 0)}
            for staff_id in world.staff.values() for _ in range(BELL_CAP + 1)])
    yield marker
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(table.delete().where(table.c.entity == marker))


def test_every_role_s_english_menu_fits_and_buttons_are_readable(page, live_server, world,
                                                                 full_bells):
    """Each role's own menu in English fits one row at 1280 px, and no button on its main
    pages is white on white (text against the colour behind it, at least 3:1). The bell shows
    its widest count throughout (``full_bells``)."""
    base = live_server
    ids = {key: pk for key, pk in world.customers.items()}
    problems = {}
    # The check itself can fail: a white-on-white button planted on a page is found.
    sign_in(page, base, "senior")
    page.evaluate("""() => { const b = document.createElement('button');
        b.id = 'planted'; b.textContent = 'planted'; b.style.color = '#fff';
        b.style.background = 'transparent'; b.style.border = '0';
        document.querySelector('body > .container').appendChild(b); }""")
    assert any("planted" in text for text in unreadable_buttons(page))
    page.goto(f"{base}/logout/")
    for username in ("senior", "bm1", "rm1", "teller1", "admin", "operator", "auditor"):
        sign_in(page, base, username)
        page.goto(f"{base}/lang/en")
        if page.locator("#crm-bell").count():
            assert page.locator("#crm-bell-count").inner_text().strip() == f"{BELL_CAP}+"
        for url in MAIN_PAGES.get(username, ["/"]):
            page.goto(base + url.format(**ids))
            if menu_rows(page) != 1 or overlapping_items(page):
                problems[f"{username} {url} menu"] = overlapping_items(page)
            bad = unreadable_buttons(page)
            if bad:
                problems[f"{username} {url} buttons"] = bad
        page.goto(f"{base}/lang/zh")
        page.goto(f"{base}/logout/")
    assert problems == {}, problems
