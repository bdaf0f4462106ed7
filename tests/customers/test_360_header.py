"""The customer 360 page at a glance: a header of what the viewer may see, tabs per role, panels
from a registry, and only the buttons a role can use.

Guards that the header shows who the customer is (number, tier, branch, relationship manager)
with masked values masked for everyone and the deep profile (total assets, the deep-profile
section, balances) only for who may see it; that each role gets exactly the tabs it may open,
and a tab it may not open answers 404 like a customer out of scope; that panels and tabs added
through ``backoffice.customers.panels`` are drawn and filtered by their own test; and that every
button drawn leads somewhere that answers (the teller's tier override and the campaign author's
approve are not drawn, and their routes still refuse).
"""
from __future__ import annotations

import re

import pytest

from tests.support.world import CUSTOMERS, DEEP_VISIBLE, VISIBLE, balance_of, deep_profile_values

ALL_TABS = ["profile", "holdings", "transactions", "interactions", "tasks", "comments",
            "marketing", "changes", "operation-log"]
SERVING = ["senior", "bm1", "rm1", "rm2", "teller1"]


def page_of(client, pk) -> str:
    response = client.get(f"/customers/show/{pk}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def header_of(page: str) -> str:
    start = page.index('id="customer-header"')
    return page[start:page.index('id="crm-360-tabs"')]


def tabs_in(page: str) -> list[str]:
    return re.findall(r'id="tab-link-([\w-]+)"', page)


def test_the_header_names_the_customer_with_masked_values(app, world, client_as):
    """The owner's header: number, tier badge, branch, relationship manager, risk, figures;
    the mobile and ID number masked there as everywhere (the full value only via reveal)."""
    from markupsafe import escape

    from backoffice.extensions import db
    from models import Customer

    pk = world.customers["c_rm1"]
    header = header_of(page_of(client_as("rm1"), pk))
    with app.app_context():
        customer = db.session.get(Customer, pk)
        facts = (customer.customer_no, customer.name, str(escape(str(customer.branch))),
                 str(escape(str(customer.owner))), customer.mobile, customer.id_number)
        db.session.remove()
    number, name, branch, owner, mobile, id_number = facts
    assert number in header and name in header
    assert 'data-tier="private_banking"' in header
    assert f'id="customer-branch">{branch}<' in header
    assert f'id="customer-owner">{owner}<' in header
    shown = re.search(r'id="customer-mobile">([^<]*)<', header).group(1)
    assert "*" in shown and mobile not in header and id_number not in header
    for figure in ("total-assets", "risk-tolerance", "open-accounts", "open-tasks",
                   "last-contact"):
        assert f'id="figure-{figure}"' in header, figure


def test_a_teller_sees_masked_values_and_no_deep_profile(world, client_as):
    pk = world.customers["c_rm2"]
    client = client_as("teller1")
    page = page_of(client, pk)
    header = header_of(page)
    assert "*" in re.search(r'id="customer-mobile">([^<]*)<', header).group(1)
    assert 'id="total-assets"' not in page
    assert deep_profile_values("c_rm2")["family_notes"] not in page
    assert "深度画像" not in page and "Deep profile" not in page  # not even an empty section
    holdings = client.get(f"/customers/show/{pk}/tab/holdings").get_data(as_text=True)
    assert 'id="accounts"' in holdings  # the accounts, without their balances
    assert f"{balance_of('c_rm2'):,.2f}" not in holdings and "holdings-total-assets" not in holdings


@pytest.mark.parametrize("username", SERVING)
def test_the_deep_profile_only_for_who_may_see_it(world, client_as, username):
    client = client_as(username)
    for key in sorted(VISIBLE[username]):
        pk = world.customers[key]
        page = page_of(client, pk)
        holdings = client.get(f"/customers/show/{pk}/tab/holdings").get_data(as_text=True)
        deep = key in DEEP_VISIBLE.get(username, set())
        balance = f"{balance_of(key):,.2f}"
        assert ('id="total-assets"' in page) is deep, (username, key)
        assert (deep_profile_values(key)["family_notes"] in page) is deep, (username, key)
        assert (balance in holdings) is deep, (username, key)
        if deep:
            total = re.search(r'id="total-assets">([^<]*)<', page).group(1)
            assert total.replace(",", "") not in ("", "—")


@pytest.mark.parametrize("username, expected", [
    ("teller1", [t for t in ALL_TABS if t != "operation-log"]),
    ("rm1", [t for t in ALL_TABS if t != "operation-log"]),
    ("bm1", [t for t in ALL_TABS if t != "operation-log"]),
    ("senior", [t for t in ALL_TABS if t != "operation-log"]),
])
def test_tabs_per_role(world, client_as, username, expected):
    """Each role gets the tabs it may open, the profile first; the others load on demand and a
    tab the role may not open answers 404, as does any tab of a customer out of scope."""
    client = client_as(username)
    key = sorted(VISIBLE[username])[0]
    pk = world.customers[key]
    page = page_of(client, pk)
    assert tabs_in(page) == expected
    assert 'id="profile"' in page  # the first tab is drawn with the page
    for tab in expected[1:]:
        response = client.get(f"/customers/show/{pk}/tab/{tab}")
        assert response.status_code == 200, (username, tab)
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get(f"/customers/show/{pk}/tab/operation-log").status_code == 404
    assert client.get(f"/customers/show/{pk}/tab/no-such-tab").status_code == 404
    outside = next(k for k in CUSTOMERS if k not in VISIBLE[username]) \
        if len(VISIBLE[username]) < len(CUSTOMERS) else None
    if outside is not None:
        for tab in expected:
            assert client.get(f"/customers/show/{world.customers[outside]}/tab/{tab}") \
                .status_code == 404, (username, outside, tab)


def test_roles_without_customers_get_no_tab(world, client_as):
    for username in ("auditor", "operator", "admin"):
        client = client_as(username)
        for tab in ("profile", "holdings", "operation-log"):
            assert client.get(f"/customers/show/{world.customers['c_rm1']}/tab/{tab}") \
                .status_code in (403, 404), (username, tab)


@pytest.fixture
def rm_reads_the_log(app):
    """Relationship managers granted the operation log for one test (a bank may do so)."""
    from backoffice.extensions import db

    sm = app.appbuilder.sm
    with app.app_context():
        role = sm.find_role("RelationshipManager")
        permission = sm.find_permission_view_menu("can_read", "AuditLog")
        sm.add_permission_role(role, permission)
        db.session.remove()
    yield
    with app.app_context():
        sm.del_permission_role(sm.find_role("RelationshipManager"),
                                       sm.find_permission_view_menu("can_read", "AuditLog"))
        db.session.remove()


def test_the_operation_log_tab_for_who_reads_the_log(world, client_as, rm_reads_the_log):
    client = client_as("rm1")
    pk = world.customers["c_rm1"]
    page = page_of(client, pk)
    assert tabs_in(page)[-1] == "operation-log"
    log = client.get(f"/customers/show/{pk}/tab/operation-log").get_data(as_text=True)
    assert 'id="operation-log-rows"' in log and "rm1" in log
    assert "view_360" not in log  # the action in words, not its code


@pytest.fixture
def extra_entries(app):
    """A header panel and a tab for those who may reveal, and a panel with nothing to show."""
    from jinja2 import ChoiceLoader, DictLoader

    from backoffice.customers import panels

    loader = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([DictLoader({
        "customers/_test_panel.html": '<div class="crm-test-panel">{{ marker }}</div>'}), loader])

    panels.register_panel(panels.Panel(
        "test_header", panels.HEADER, "customers/_test_panel.html",
        lambda customer: {"marker": f"HEADER-{customer.customer_no}"},
        panels.requires("can_reveal", "Customer"), order=1))
    panels.register_panel(panels.Panel(
        "test_empty", panels.HEADER, "customers/_test_panel.html", lambda customer: None))
    panels.register_tab(panels.Tab(
        "test-tab", "TEST TAB", "customers/_test_panel.html",
        lambda customer: {"marker": f"TAB-{customer.customer_no}"},
        panels.requires("can_reveal", "Customer"), order=55))
    panels.register_panel(panels.Panel(
        "test_in_tab", "test-tab", "customers/_test_panel.html",
        lambda customer: {"marker": "PANEL-IN-TAB"}, order=1))
    yield
    for key in ("test_header", "test_empty", "test-tab", "test_in_tab"):
        panels.unregister(key)
    app.jinja_env.loader = loader


def test_registered_panels_and_tabs_are_drawn_for_who_may_see_them(app, world, client_as,
                                                                   extra_entries):
    from backoffice.extensions import db
    from models import Customer

    pk = world.customers["c_rm2"]
    with app.app_context():
        number = db.session.get(Customer, pk).customer_no
        db.session.remove()
    rm = client_as("rm2")
    page = page_of(rm, pk)
    assert f"HEADER-{number}" in header_of(page)
    assert page.count('class="crm-test-panel"') == 1  # the empty panel is not drawn
    assert tabs_in(page).index("test-tab") == tabs_in(page).index("tasks") + 1  # by order
    tab = rm.get(f"/customers/show/{pk}/tab/test-tab").get_data(as_text=True)
    assert f"TAB-{number}" in tab and "PANEL-IN-TAB" in tab
    teller = client_as("teller1")  # no reveal permission: neither the panel nor the tab
    page = page_of(teller, pk)
    assert "HEADER-" not in page and "test-tab" not in tabs_in(page)
    assert teller.get(f"/customers/show/{pk}/tab/test-tab").status_code == 404


ACTIONS = {  # header button id -> its target
    "edit": "/customers/edit/{pk}",
    "record-interaction": "/interactions/add?customer_no={no}",
    "add-follow-up": "/followups/add?customer_no={no}",
    "tier-override": "/segments/override/{pk}",
}


@pytest.mark.parametrize("username", SERVING)
def test_every_button_drawn_leads_somewhere_and_no_other(app, world, client_as, username):
    """The header draws an action exactly when its target answers the viewer: the same check
    decides both (a teller has no tier override, and its route answers 404)."""
    client = client_as(username)
    for key in sorted(VISIBLE[username]):
        pk = world.customers[key]
        header = header_of(page_of(client, pk))
        drawn = set(re.findall(r'<a class="btn btn-sm [^"]*" id="([\w-]+)" href="([^"]*)"',
                               header))
        drawn_ids = {button for button, _href in drawn}
        assert drawn_ids <= set(ACTIONS), drawn_ids
        for button, href in drawn:
            assert client.get(href.replace("&amp;", "&")).status_code == 200, (username, href)
        for button in set(ACTIONS) - drawn_ids:
            target = ACTIONS[button].format(pk=pk, no="x")
            assert client.get(target).status_code in (403, 404), (username, button)
        assert ("tier-override" in drawn_ids) is (username != "teller1")
        assert ('id="reveal-menu"' in header) is (username != "teller1")


def test_the_teller_meets_no_tier_override(world, client_as):
    client = client_as("teller1")
    pk = world.customers["c_rm2"]
    page = page_of(client, pk)
    marketing = client.get(f"/customers/show/{pk}/tab/marketing").get_data(as_text=True)
    assert "tier-override" not in page and "tier-override-link" not in marketing
    assert "/segments/override/" not in page + marketing
    assert client.get(f"/segments/override/{pk}").status_code == 404
    owner = client_as("rm2").get(f"/customers/show/{pk}/tab/marketing").get_data(as_text=True)
    assert 'id="customer-segments"' in owner


@pytest.fixture
def submitted_campaign(app, world):
    from sqlalchemy import delete

    from backoffice.extensions import db
    from models import Campaign

    with app.app_context():
        campaign = Campaign(name="审批按钮测试", status="submitted", channels=["sms"],
                            target_tiers=[], target_segment_ids=[], target_rule={},
                            custom_fields={}, created_by_id=world.staff["senior"])
        db.session.add(campaign)
        db.session.commit()
        pk = campaign.id
        db.session.remove()
    yield pk
    with app.app_context():
        db.session.execute(delete(Campaign).where(Campaign.id == pk))
        db.session.commit()
        db.session.remove()


def test_the_campaign_author_has_no_approve_button(app, world, client_as, submitted_campaign):
    from backoffice.extensions import db
    from models import Campaign

    senior = client_as("senior")
    page = senior.get(f"/campaigns/show/{submitted_campaign}").get_data(as_text=True)
    assert f"/campaigns/approve/{submitted_campaign}" not in page
    assert f"/campaigns/reject/{submitted_campaign}" not in page
    senior.post(f"/campaigns/approve/{submitted_campaign}",
                data={"csrf_token": _csrf(page)})
    with app.app_context():
        assert db.session.get(Campaign, submitted_campaign).status == "submitted"
        db.session.get(Campaign, submitted_campaign).created_by_id = world.staff["bm1"]
        db.session.commit()
        db.session.remove()
    # Drafted by a branch manager: the senior manager reviews it, and the button is there.
    page = senior.get(f"/campaigns/show/{submitted_campaign}").get_data(as_text=True)
    assert f"/campaigns/approve/{submitted_campaign}" in page
    branch = client_as("bm1").get(f"/campaigns/show/{submitted_campaign}").get_data(as_text=True)
    assert f"/campaigns/approve/{submitted_campaign}" not in branch  # no approval right


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    return found.group(1) if found else ""


@pytest.mark.parametrize("username, url, button, target", [
    ("rm1", "/segments/", 'id="refresh-now"', None),
    ("rm1", "/segments/", "/segments/new", "/segments/new?kind=segment"),
    ("rm1", "/campaigns/", 'id="new-campaign"', "/campaigns/new"),
    ("senior", "/segments/", 'id="refresh-now"', None),
    ("senior", "/segments/", "/segments/new", "/segments/new?kind=segment"),
    ("bm1", "/campaigns/", 'id="new-campaign"', "/campaigns/new"),
])
def test_list_screens_draw_only_the_buttons_the_role_can_use(client_as, username, url, button,
                                                             target):
    """Relationship managers read tiers, segments and campaigns but write none: no refresh,
    add or new-campaign button; the roles that write them keep theirs, and the target answers
    exactly when the button is drawn."""
    client = client_as(username)
    page = client.get(url).get_data(as_text=True)
    drawn = button in page
    assert drawn is (username != "rm1"), (username, url, button)
    if target is not None:
        status = client.get(target).status_code
        assert (status == 200) is drawn, (username, target, status)
