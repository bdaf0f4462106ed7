"""The customer 360 page in a real browser: the header at a glance and tabs that load on demand.

- Teller (``teller1`` serving ``c_rm2``): the header with masked values, no total assets and no
  reveal or tier-override buttons; the tabs load when clicked (interaction timeline, holdings
  without balances); no operation-log tab.
- Owning relationship manager (``rm1`` owning ``c_rm1``, private banking): the header with the
  total financial assets and the reveal menu; holdings with balances; the campaigns and
  segments tab; the profile tab with the deep-profile section.

Screenshots: tests/screenshots/<test>-<step>.png (listed in SCREENSHOTS.md). Read-only: the
shared world stays as seeded.
"""
from __future__ import annotations

from tests.browser.steps import sign_in
from tests.support.world import balance_of, deep_profile_values


def open_tab(page, key: str) -> None:
    """Click a tab and wait for its content to arrive (tabs after the first load on demand)."""
    page.locator(f"#tab-link-{key}").click()
    page.wait_for_selector(f"#tab-{key}[data-ready='1']")


def tab_keys(page) -> list[str]:
    return [link.get_attribute("id").removeprefix("tab-link-")
            for link in page.locator("#crm-360-tabs a").all()]


def test_teller_sees_a_masked_header_and_no_deep_profile(page, shoot, live_server, world):
    base = live_server
    sign_in(page, base, "teller1")
    page.goto(f"{base}/customers/show/{world.customers['c_rm2']}")
    header = page.locator("#customer-header")
    assert header.locator("#customer-name").inner_text() == "客户c_rm2"
    assert "*" in header.locator("#customer-mobile").inner_text()
    assert "*" in header.locator("#customer-id-number").inner_text()
    assert header.locator("#tier-badge").get_attribute("data-tier") == "mass"
    assert page.locator("#total-assets").count() == 0
    assert page.locator("#reveal-menu").count() == 0 and page.locator("#tier-override").count() == 0
    assert page.locator("#record-interaction").is_visible()
    assert "operation-log" not in tab_keys(page)
    assert tab_keys(page)[0] == "profile"
    assert deep_profile_values("c_rm2")["family_notes"] not in page.content()
    shoot("01-teller-360-header")

    open_tab(page, "interactions")
    assert page.locator("#interactions").is_visible()
    shoot("02-teller-interactions-tab")

    open_tab(page, "holdings")
    assert page.locator("#accounts").is_visible()
    assert f"{balance_of('c_rm2'):,.2f}" not in page.locator("#tab-holdings").inner_text()
    shoot("03-teller-holdings-tab")

    open_tab(page, "marketing")
    assert page.locator("#tier-override-link").count() == 0
    shoot("04-teller-campaigns-segments-tab")


def test_owner_sees_the_header_with_assets_and_every_tab(page, shoot, live_server, world):
    base = live_server
    sign_in(page, base, "rm1")
    page.goto(f"{base}/customers/show/{world.customers['c_rm1']}")
    header = page.locator("#customer-header")
    assert header.locator("#tier-badge").get_attribute("data-tier") == "private_banking"
    assert header.locator("#customer-owner").inner_text().strip() != "—"
    total = header.locator("#total-assets").inner_text().replace(",", "")
    assert float(total) >= float(balance_of("c_rm1"))
    assert "*" in header.locator("#customer-mobile").inner_text()  # masked for the owner too
    assert page.locator("#tier-override").is_visible()
    assert deep_profile_values("c_rm1")["family_notes"] in page.locator("#tab-profile").inner_text()
    shoot("01-owner-360-header")

    page.locator("#reveal-toggle").click()
    assert page.locator("#reveal-links").is_visible()
    shoot("02-owner-reveal-menu")
    page.keyboard.press("Escape")

    open_tab(page, "holdings")
    assert f"{balance_of('c_rm1'):,.2f}" in page.locator("#tab-holdings").inner_text()
    shoot("03-owner-holdings-tab")

    open_tab(page, "marketing")
    assert page.locator("#customer-segments").is_visible()
    shoot("04-owner-campaigns-segments-tab")

    open_tab(page, "tasks")
    assert page.locator("#follow-ups").is_visible()
    shoot("05-owner-tasks-tab")
