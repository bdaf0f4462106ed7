"""An admin gives a field set default filters by picking them, in Chromium (Chinese).

Only the rows in use show; the admin adds the status row from the "add condition" menu (by its
label), picks "equals" and the closed status by its label, then the birth-date row with
"between" (the second bound shows for a range only) and two days in the calendar inputs. Rows of
other record types stay hidden. The stored set holds the codes, in the stored format the list
applies.
"""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from tests.browser.steps import sign_in

NAME = "浏览器测试按标签选默认筛选"


@pytest.fixture
def cleanup(app):
    yield
    from backoffice.extensions import db
    from models.fields import FieldSet

    with app.app_context():
        db.session.execute(delete(FieldSet).where(FieldSet.name == NAME))
        db.session.commit()
        db.session.remove()


def _row(page, key: str):
    return page.locator(f"tr.crm-filter-row[data-entity='customer']:has(input[value='{key}'])")


def test_admin_picks_default_filters_by_label(page, shoot, live_server, app, cleanup):
    base = live_server
    sign_in(page, base, "admin")
    page.goto(f"{base}/field-sets/add")
    page.select_option("#entity", "customer")
    page.fill("#name", NAME)
    page.locator("li.crm-column[data-entity='customer'] input[value='customer:name']").check()
    status, birth = _row(page, "status"), _row(page, "birth_date")
    assert status.is_hidden() and birth.is_hidden()  # no filter yet: no row shown
    assert page.locator("tr.crm-filter-row[data-entity='interaction']").first.is_hidden()

    adder = page.locator("select.crm-filter-add")
    adder.select_option(label="状态")
    assert status.is_visible()
    status.locator("select.crm-filter-op").select_option("eq")
    assert status.locator("td.crm-filter-upper").evaluate(
        "cell => getComputedStyle(cell).visibility") == "hidden"
    status.locator("select[name$='-value']").select_option(label="已销户")

    adder.select_option(label="出生日期")
    birth.locator("select.crm-filter-op").select_option("between")
    upper = birth.locator("td.crm-filter-upper")
    assert upper.evaluate("cell => getComputedStyle(cell).visibility") == "visible"
    birth.locator("input[name$='-value']").fill("1960-01-01")
    birth.locator("input[name$='-value2']").fill("1969-12-31")
    page.locator("#name").click()  # closes the calendar
    shoot("01-admin-picks-filters-by-label")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert page.locator(".alert-danger, .has-error").count() == 0, page.content()[:2000]
    shoot("02-admin-filters-saved")

    from backoffice.extensions import db
    from models.fields import FieldSet

    with app.app_context():
        saved = db.session.execute(select(FieldSet).where(FieldSet.name == NAME)).scalar_one()
        filters = list(saved.filters)
        db.session.remove()
    assert filters == [  # in the form's order of fields
        {"field": "birth_date", "op": "between", "value": ["1960-01-01", "1969-12-31"]},
        {"field": "status", "op": "eq", "value": "closed"}]
