"""Each role's main job end to end, in a real browser, with a screenshot of every step.

- Teller: adds a customer (waits for review), a branch manager approves it; the teller records
  an interaction from the 360 page and changes the mobile number (waits for review again), and
  the branch manager approves that too.
- Senior manager: the home dashboard draws its charts with the app's own Plotly, and a click on
  a bar opens the list it counts.
- Auditor: filters the operation log by action and exports the filtered log as CSV.
- Admin: adds a custom field to interactions; a teller fills it when recording an interaction
  and sees the value on the record.

The operator's import (``test_import_workflow.py``) and the relationship manager's retention
list (``test_retention_workflow.py``) have modules of their own; SCREENSHOTS.md says what every
screenshot of every workflow shows.

Screenshots: tests/screenshots/<test>-<step>.png (git-ignored). The records made here are the
test's own (its own customer, deleted at the end), so the shared world stays as seeded.
"""
from __future__ import annotations

import csv
import datetime as dt
import secrets

import pytest

from tests.browser.steps import new_page, sign_in
from tests.support.world import make_prc_id

BIRTH = dt.date(1979, 3, 21)


def approve(reviewer, request_url: str, shoot_other, step: str) -> None:
    reviewer.goto(request_url)
    shoot_other(step)
    with reviewer.expect_navigation():
        reviewer.locator("#approve-form button[type=submit]").click()
    assert reviewer.locator(".alert-success").count() == 1, reviewer.content()[:1500]


@pytest.fixture
def own_customer_name(app):
    name = f"柜员流程{secrets.token_hex(3)}"
    yield name
    from backoffice.extensions import db
    from models import ChangeRequest, Customer, FollowUp, Interaction

    with app.app_context():
        for customer in db.session.query(Customer).filter(Customer.name == name).all():
            for model in (ChangeRequest, FollowUp, Interaction):
                for row in db.session.query(model).filter_by(customer_id=customer.id):
                    db.session.delete(row)
            db.session.flush()
            db.session.delete(customer)
        db.session.commit()
        db.session.remove()


def test_teller_records_and_changes_branch_manager_approves(page, shoot, shoot_page, live_server,
                                                            world, own_customer_name):
    base = live_server
    sign_in(page, base, "teller1")
    shoot("01-teller-home")

    # The teller adds a customer: a change request, waiting for a checker.
    page.goto(f"{base}/customers/add")
    page.fill("#name", own_customer_name)
    page.select_option("#customer_type", "individual")
    page.select_option("#gender", "M")
    page.locator("#birth_date").press_sequentially(BIRTH.isoformat())
    page.keyboard.press("Escape")
    page.select_option("#id_type", "PRC_ID")
    page.fill("#id_number", make_prc_id(BIRTH, 733))
    page.fill("#mobile", "13700137001")
    page.select_option("#branch", str(world.branches["B1"]))
    page.select_option("#status", "active")
    shoot("02-teller-add-customer")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert page.locator("#change-request").count() == 1, page.content()[:1500]
    shoot("03-teller-waits-for-review")
    request_url = page.url

    # The branch manager approves it at another desk.
    context, reviewer = new_page(page, base, "bm1")
    try:
        approve(reviewer, request_url, lambda step: shoot_page(reviewer, step),
                "04-manager-reviews-new-customer")
        shoot_page(reviewer, "05-manager-approved")

        # The teller finds the customer, opens the 360 page and records an interaction.
        page.goto(f"{base}/customers/list/")
        row = page.locator("table tbody tr", has_text=own_customer_name)
        assert row.count() == 1
        with page.expect_navigation():
            row.first.locator("a[href*='/customers/show/']").first.click()
        customer_url = page.url
        shoot("06-teller-360")
        with page.expect_navigation():
            page.locator("#record-interaction").click()
        page.select_option("#channel", "branch")
        page.select_option("#direction", "inbound")
        page.select_option("#topic", "service")
        page.fill("#summary", "客户到网点更新联系方式,已核实身份。")
        page.fill("#satisfaction", "5")
        shoot("07-teller-interaction-form")
        with page.expect_navigation():
            page.locator("#model_form button[type=submit]").click()
        page.goto(customer_url + "#tab-interactions")  # the 360 page's timeline tab
        page.wait_for_selector("#tab-interactions[data-ready='1']")
        assert "客户到网点更新联系方式" in page.content()
        shoot("08-teller-360-with-interaction")

        # The teller changes the mobile number: a reviewed field, so it waits again.
        customer_id = customer_url.rstrip("/").rsplit("/", 1)[-1]
        page.goto(f"{base}/customers/edit/{customer_id}")
        page.fill("#mobile", "13700137002")
        shoot("09-teller-edit-mobile")
        with page.expect_navigation():
            page.locator("#model_form button[type=submit]").click()
        assert page.locator("#change-request").count() == 1, page.content()[:1500]
        shoot("10-teller-change-waits")
        approve(reviewer, page.url, lambda step: shoot_page(reviewer, step),
                "11-manager-reviews-change")
        shoot_page(reviewer, "12-manager-approved-change")
        page.goto(customer_url)
        assert "137****7002" in page.content()  # the new number, masked for the teller
        shoot("13-teller-sees-new-mobile")
    finally:
        context.close()


def test_senior_dashboard_charts_click_through(page, shoot, live_server, world, app):
    from backoffice.dashboards import summaries
    from backoffice.extensions import db

    with app.app_context():
        summaries.refresh_all(db.session)
        db.session.commit()
        db.session.remove()
    base = live_server
    sign_in(page, base, "senior")
    page.goto(f"{base}/")
    page.locator("#panel-tiers .crm-chart .main-svg").first.wait_for(state="visible")
    shoot("01-senior-dashboard")
    # The widest bar that leads somewhere: a tier with a few customers beside thousands is a
    # bar too thin to hit, and "no tier yet" has no list to open (which tiers the shared bank
    # holds depends on the tests before).
    widest = page.evaluate("""() => {
        const chart = document.querySelector('#panel-tiers .crm-chart');
        const links = chart.data[0].customdata || [];
        let best = -1, area = 0;
        chart.querySelectorAll('g.point path').forEach((path, i) => {
            const box = path.getBoundingClientRect();
            if (links[i] && box.width * box.height > area) { best = i; area = box.width * box.height; }
        });
        return best;
    }""")
    assert widest >= 0, "no tier bar leads to a list"
    bar = page.locator("#panel-tiers .crm-chart g.point path").nth(widest)
    with page.expect_navigation():
        bar.click(force=True)
    assert "/customers/list/" in page.url and "_flt_" in page.url
    shoot("02-tier-click-through")


def test_auditor_filters_and_exports_the_log(page, shoot, live_server, world, app):
    base = live_server
    sign_in(page, base, "auditor")
    page.goto(f"{base}/auditlog/list/")
    shoot("01-auditor-log")
    page.locator("a.accordion-toggle").first.click()
    page.locator("#filter_form button.dropdown-toggle").click()
    page.locator("#filter_form a.filter[name=action]").click()
    # The action is picked from the actions' labels ("equal to" is the first operator).
    page.locator("#filter_form table.filters select[name$='_action']").last.select_option(
        "login")
    with page.expect_navigation():
        page.locator("#filter_form button[type=submit]").click()
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    shoot("02-auditor-filtered-logins")
    with page.expect_download() as download:
        page.locator(".crm-audit-export a", has_text="CSV").first.click()
    with open(download.value.path(), encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.reader(handle))[1:]  # below the header of column labels
    # Sign-ins only (a row's detail may hold commas and line breaks, so the file is read as CSV,
    # not as lines). The file shows the action's label, in Chinese (or English).
    from flask_babel import force_locale

    from backoffice.audit.views import EXPORT_COLUMNS
    from backoffice.audit.words import action_label

    with app.test_request_context("/"):
        labels = {action_label("login")}
        with force_locale("en"):
            labels.add(action_label("login"))
    actions = [row[EXPORT_COLUMNS.index("action")] for row in exported]
    assert actions and set(actions) <= labels, actions[:5]
    shoot("03-auditor-exported")


@pytest.fixture
def field_key(app):
    key = f"h9_visit_{secrets.token_hex(2)}"
    yield key
    from backoffice.extensions import db
    from models import Interaction
    from models.fields import CustomFieldDefinition

    with app.app_context():
        for interaction in db.session.query(Interaction).filter(
                Interaction.summary == "柜员填写自定义字段").all():
            db.session.delete(interaction)
        db.session.query(CustomFieldDefinition).filter_by(key=key).delete()
        db.session.commit()
        db.session.remove()


def test_admin_adds_a_custom_field_and_a_teller_fills_it(page, shoot, shoot_page, live_server,
                                                         world, field_key):
    base = live_server
    sign_in(page, base, "admin")
    page.goto(f"{base}/custom-fields/add")
    page.select_option("#entity", "interaction")
    page.fill("#key", field_key)
    page.fill("#label_zh", "来访目的")
    page.fill("#label_en", "Purpose of visit")
    page.select_option("#field_type", "text")
    shoot("01-admin-adds-field")
    with page.expect_navigation():
        page.locator("#model_form button[type=submit]").click()
    assert field_key in page.content() or page.locator(".alert-success").count() == 1
    shoot("02-admin-field-saved")

    context, teller = new_page(page, base, "teller1")
    try:
        number = "T000000002"  # c_rm2, served by teller1
        teller.goto(f"{base}/interactions/add?customer_no={number}")
        teller.select_option("#channel", "branch")
        teller.select_option("#direction", "inbound")
        teller.select_option("#topic", "service")
        teller.fill("#summary", "柜员填写自定义字段")
        teller.fill(f"#cf_{field_key}", "办理定期存款")
        shoot_page(teller, "03-teller-fills-field")
        with teller.expect_navigation():
            teller.locator("#model_form button[type=submit]").click()
        teller.goto(f"{base}/interactions/list/")
        row = teller.locator("table tbody tr").first  # newest first: the one just recorded
        with teller.expect_navigation():
            row.locator("a[href*='/interactions/show/']").first.click()
        assert "办理定期存款" in teller.content()
        shoot_page(teller, "04-teller-sees-field-value")
    finally:
        context.close()
