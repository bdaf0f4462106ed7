"""An admin builds a field set by ticking columns by their labels, in Chromium (Chinese).

The picker lists the record type's columns and custom fields by their labels; the admin ticks
the mobile number, then the name, moves the name up with its arrow, and saves. The stored set
holds the internal keys in the order picked, and no internal key was shown on the form.
"""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from tests.browser.steps import sign_in

NAME = "浏览器测试按标签建字段集"


@pytest.fixture
def cleanup(app):
    yield
    from backoffice.extensions import db
    from models.fields import FieldSet

    with app.app_context():
        db.session.execute(delete(FieldSet).where(FieldSet.name == NAME))
        db.session.commit()
        db.session.remove()


def _labels(app, *keys) -> list[str]:
    from flask_babel import force_locale

    from backoffice.fields.columns import label_of

    with app.test_request_context("/"), force_locale("zh"):
        return [label_of("customer", key) for key in keys]


def test_admin_builds_a_field_set_by_column_labels(page, shoot, live_server, app, cleanup):
    base = live_server
    name_label, mobile_label = _labels(app, "name", "mobile")
    assert name_label != "name" and mobile_label != "mobile"
    sign_in(page, base, "admin")
    page.goto(f"{base}/field-sets/add")
    page.select_option("#entity", "customer")
    page.fill("#name", NAME)
    picker = page.locator("ul.crm-columns")
    customer_items = picker.locator("li.crm-column[data-entity='customer']")
    shown = customer_items.all_inner_texts()
    assert any(mobile_label in text for text in shown), shown
    assert not any(text.strip() in ("mobile", "customer_no", "owner_id") for text in shown)
    # Another record type's columns are hidden while "customer" is chosen.
    assert picker.locator("li.crm-column[data-entity='interaction']").first.is_hidden()

    mobile = customer_items.filter(has_text=mobile_label).first
    name = customer_items.filter(has=page.get_by_text(name_label, exact=True)).first
    mobile.locator("input[type=checkbox]").check()
    name.locator("input[type=checkbox]").check()
    # Ticked order follows the list's order: move the name above the mobile number.
    for _ in range(40):
        order = [text.strip() for text in customer_items.locator("label").all_inner_texts()]
        if order.index(name_label) < order.index(mobile_label):
            break
        name.locator("button.crm-column-up").click()
    shoot("01-admin-picks-columns-by-label")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert page.locator(".alert-danger, .has-error").count() == 0, page.content()[:2000]
    shoot("02-admin-field-set-saved")

    from backoffice.extensions import db
    from models.fields import FieldSet

    with app.app_context():
        saved = db.session.execute(select(FieldSet).where(FieldSet.name == NAME)).scalar_one()
        columns = list(saved.columns)
        db.session.remove()
    assert columns == ["name", "mobile"], columns
