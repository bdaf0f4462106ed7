"""Every path that emits customer data shows each planted marker exactly where the policy says.

A bank of its own (migrated database, the fixed world of ``tests/support/world.py``) gets unique
marker values in every sensitive, deep-profile and custom field (``tests/support/markers.py``).
Then the paths that emit data are driven as every seeded user: every GET route of the URL map
(found from the map, with ids of records in and out of the user's scope), list exports as CSV
and XLSX (read back with openpyxl), the REST API with a JWT, the logged reveal, a change
request carrying markers, the operation log as the auditor sees it, an operator's import that
matches a marked customer (preview and error report), the rule builder's live count, job runs
(segment refresh, churn scoring) and the greeting dispatch log.

What a user may meet is not written here: for each (user, marker) the test asks
``policy.read_access`` and forbids the full value unless the answer is ``visible``, and the
masked value too when it is ``hidden``. Pages that must show a value (the customer's own page)
are checked for it as well, so the crawl cannot pass by showing nothing.

Every GET endpoint is classified in ``CLASSIFIED``: a route that is not fails the test until a
developer says what it is, so a new path cannot ship unexamined. This module supersedes the
narrower crawl that searched only for plaintext patterns (``test_crawl.py``, removed).
"""
from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field

import pytest

from tests.support import markers as mk
from tests.support.web import api_token, csrf_token, login, post_form
from tests.support.world import CUSTOMERS, STAFF, VISIBLE, seed_world

# endpoint -> what it is. customer-data: shows records or values of customers (checked with ids
# in and out of scope); config: configuration or staff screens (checked, without record ids
# unless the route takes one); export: a list export (CSV and XLSX); job: job runs and their
# outputs; form: an empty form (checked once); action: changes something on GET, or takes an
# action name (never crawled: exercised by their own tests); download: a file by name;
# static: assets and language switches; auth: login and logout.
CLASSIFIED = {
    "HomeView.index": "customer-data",
    "AgreementView.agreement": "config",
    "UtilView.back": "static",
    "static": "static", "appbuilder.static": "static", "charts.plotly_js": "static",
    "LocaleView.index": "static",
    "OpenApi.get": "static",
    "CrmAuthDBView.login": "auth", "CrmAuthDBView.logout": "auth",
    "SetPasswordView.form": "auth",  # a new user's one-time link (no login)
    "ResetMyPasswordView.this_form_get": "form", "ResetPasswordView.this_form_get": "form",
    "UserInfoEditView.this_form_get": "form",
    "UserStatsChartView.chart": "config",
    "MenuApi.get_menu_data": "config",
    # REST API
    "AccountApi.get_list": "customer-data", "AccountApi.get": "customer-data",
    "AccountApi.info": "config",
    "CustomerApi.get_list": "customer-data", "CustomerApi.get": "customer-data",
    "CustomerApi.info": "config",
    "FollowUpApi.get_list": "customer-data", "FollowUpApi.get": "customer-data",
    "FollowUpApi.info": "config",
    "InteractionApi.get_list": "customer-data", "InteractionApi.get": "customer-data",
    "InteractionApi.info": "config",
    "TransactionApi.get_list": "customer-data", "TransactionApi.get": "customer-data",
    "TransactionApi.info": "config",
    "ChangeRequestApi.get_list": "customer-data", "ChangeRequestApi.get": "customer-data",
    # customer screens, 360, reveal, counter
    "CustomerView.reveal": "customer-data", "CustomerView.tab": "customer-data",
    "CounterView.lookup": "customer-data", "CounterView.card": "customer-data",
    "CustomerSearchView.results": "customer-data", "CustomerSearchView.open": "customer-data",
    # campaigns, segments, churn, review, imports, jobs, exports
    "CampaignsView.index": "customer-data", "CampaignsView.edit": "customer-data",
    "CampaignsView.evaluation": "customer-data", "CampaignsView.new": "form",
    "CampaignsView.show": "customer-data",
    "SegmentsView.index": "customer-data", "SegmentsView.edit": "customer-data",
    "SegmentsView.new": "form", "SegmentsView.override": "customer-data",
    "SegmentsView.show": "customer-data", "SegmentsView.tiers": "customer-data",
    "ChurnWarningView.dashboard": "customer-data", "ChurnWarningView.warnings": "customer-data",
    "ChurnModelRegistryView.versions": "job", "ChurnModelRegistryView.version": "job",
    "ChurnModelRegistryView.features": "config",
    "ChurnModelRegistryView.train_form": "form", "ChurnModelRegistryView.training_run": "job",
    "ChurnModelRegistryView.training_progress": "job",
    "ReviewView.mine": "customer-data", "ReviewView.pending": "customer-data",
    "ReviewView.show": "customer-data",
    "ImportView.index": "customer-data", "ImportView.batch": "customer-data",
    "ImportView.mapping": "customer-data", "ImportView.progress": "customer-data",
    "ImportView.report": "customer-data", "ImportView.upload": "form",
    "JobRunView.progress": "job",
    "ExportRequestView.index": "customer-data", "ExportRequestView.ask": "form",
    "ExportRequestView.download": "customer-data",
    "StaffUserView.userinfo": "config",
    # comments: threads are drawn inside their records' pages (crawled above); this GET is the
    # names offered after "@" (staff names only: tests/comments/test_comment_security.py)
    "CommentsView.staff": "config",
    # outbound webhooks: configuration and delivery status, never a delivery's body (customer
    # data as the webhook's role sees it: tests/webhooks/test_payload.py)
    "WebhooksView.index": "config", "WebhooksView.new": "form", "WebhooksView.edit": "config",
    "WebhooksView.deliveries": "config", "WebhooksView.delivery": "config",
    # the data wall: summary figures of a branch or the bank, scope and panel permission checked
    # per tile (tests/datawall/test_access.py)
    "DataWallView.index": "customer-data", "DataWallView.bank": "customer-data",
    "DataWallView.bank_figures": "customer-data", "DataWallView.branch": "customer-data",
    "DataWallView.branch_figures": "customer-data",
    # staff notifications: the signed-in user's own rows, a customer's content re-checked
    # against the reader's scope when shown (tests/notifications/test_privacy.py); opening one
    # marks it read, a change on GET
    "NotificationsView.index": "customer-data", "NotificationsView.open": "action",
    "NotificationsView.settings": "form",
    # automation rules: rules are configuration; the list's counts, the dry run and the run log
    # show matched customers (number and name) through the scoped session
    # (tests/automation/test_access.py)
    "AutomationView.index": "customer-data", "AutomationView.show": "customer-data",
    "AutomationView.run_log": "customer-data", "AutomationView.approvals": "config",
    "AutomationView.new": "form", "AutomationView.edit": "config",
}
# FAB model views: the kind of their list/show/edit/export pages.
MODEL_VIEWS = {
    "AccountView": "customer-data", "AuditLogView": "customer-data",
    "BranchView": "config", "ChurnSignalRuleView": "config", "CustomFieldView": "config",
    "CustomerView": "customer-data", "FieldSetView": "config", "FollowUpView": "customer-data",
    "GreetingDispatchView": "customer-data", "OccasionView": "config", "OfferView": "config",
    "GreetingTemplateView": "config", "InteractionView": "customer-data", "JobRunView": "job",
    "MyTasksView": "customer-data", "ProductView": "config", "ComplaintView": "customer-data",
    "ConsentView": "customer-data", "ServiceFlagTypeView": "config",
    "CustomerServiceFlagView": "customer-data", "LoanApplicationView": "customer-data",
    "TransactionView": "customer-data",
    "UserGroupModelView": "config", "PermissionModelView": "config",
    "PermissionViewModelView": "config", "RoleModelView": "config", "StaffUserView": "config",
    "ViewMenuModelView": "config",
}
for _view, _kind in MODEL_VIEWS.items():
    CLASSIFIED.update({f"{_view}.list": _kind, f"{_view}.show": _kind, f"{_view}.edit": _kind,
                       f"{_view}.add": "form", f"{_view}.delete": "action",
                       f"{_view}.action": "action", f"{_view}.download": "download",
                       f"{_view}.export": "export"})
NOT_CRAWLED = {"static", "auth", "action", "download"}
# What the record id of a route that is not a model view's names.
PK_ENTITY = {
    "DataWallView.branch": "Branch", "DataWallView.branch_figures": "Branch",
    "CounterView.card": "Customer", "SegmentsView.override": "Customer",
    "CustomerView.reveal": "Customer", "CustomerView.tab": "Customer",
    "ReviewView.show": "ChangeRequest", "ChangeRequestApi.get": "ChangeRequest",
    "ImportView.batch": "ImportBatch", "ImportView.mapping": "ImportBatch",
    "ImportView.progress": "ImportBatch", "ImportView.report": "ImportBatch",
    "JobRunView.progress": "JobRun", "AuditLogView.show": "AuditLog",
    "AuditLogView.edit": "AuditLog",
    "CampaignsView.edit": "Campaign", "CampaignsView.evaluation": "Campaign",
    "CampaignsView.show": "Campaign", "SegmentsView.edit": "Segment",
    "SegmentsView.show": "Segment", "ChurnModelRegistryView.version": "ChurnModel",
    "ChurnModelRegistryView.training_run": "JobRun",
    "ChurnModelRegistryView.training_progress": "JobRun",
    "ExportRequestView.download": "ExportRequest",
}
API_USERS = ("senior", "bm1", "rm1", "teller1", "operator")
# Bounded by anything but letters, digits and mask stars: hashes and tokens hold digit runs.
MOBILE = re.compile(r"(?<![0-9A-Za-z*])1[3-9]\d{9}(?![0-9A-Za-z*])")
PRC_ID = re.compile(r"(?<![0-9A-Za-z*])\d{17}[\dX](?![0-9A-Za-z*])")
# The operator's import: one row matching a marked customer by ID number, one bad row.
IMPORT_MATCHED, IMPORT_BAD = "c_rm1", "c_rm3"
IMPORT_MOBILE = "13973618888"
IMPORT_HEADER = ["证件号码", "姓名", "手机号", "支行"]
IMPORT_ENDPOINTS = {"ImportView.batch", "ImportView.mapping", "ImportView.progress",
                    "ImportView.report"}


@dataclass
class Bank:
    """The marked bank: its app, world, logged-in clients and what the setup created."""

    app: object
    world: object
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)  # entity -> ids to request
    proposals: list = field(default_factory=list)  # markers of a pending change request
    forbidden: dict = field(default_factory=dict)  # username -> [(marker, form)]
    # The same for the operation log's pages, which answer with policy.log_read_access.
    log_forbidden: dict = field(default_factory=dict)
    revealed: str = ""


def _read(app, fn):
    from backoffice.extensions import db

    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """One migrated, seeded and marked bank for the whole module (its own database)."""
    os.environ.setdefault("CRM_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    from flask_migrate import upgrade

    from backoffice.extensions import db
    from backoffice.security.seeding import sync_roles
    from config.roles import ROLES
    from tests.support.services import migration_app

    with migration_app(tmp_path_factory.mktemp("every-path")) as app:
        with app.app_context():
            upgrade(revision="heads")
            sync_roles(app.appbuilder, ROLES)
            world = seed_world(db.session, app.appbuilder)
            mk.plant(db.session, world)
            db.session.remove()
        result = Bank(app, world)
        _WORLD[:] = [world]
        for username in STAFF:
            client = app.test_client()
            assert login(client, username).status_code == 302, username
            result.clients[username] = client
        _drive_paths(result)
        _record_ids(result)
        result.forbidden = _forbidden_forms(result)
        result.log_forbidden = _forbidden_forms(result, in_the_log=True)
        yield result


def _drive_paths(bank: Bank) -> None:
    """The writes whose outputs the crawl then reads: a reveal, a change request, an import,
    a segment refresh, churn scoring and a live count."""
    c = bank.clients
    world = bank.world
    # A logged reveal: the only place a full mobile may be shown.
    url = f"/customers/reveal/{world.customers['c_rm1']}/mobile"
    shown = post_form(c["rm1"], url, {"reason": "客户来电核实身份"})
    assert shown.status_code == 200
    bank.revealed = shown.get_data(as_text=True)
    # A change request carrying new markers (maker rm2 on c_rm2).
    bank.proposals = _propose_change(bank)
    # An operator's import matching c_rm1 by ID number, with one bad row.
    _import_as_operator(bank)
    # Job outputs: segment refresh and churn scoring run inline (no Redis in embedded mode).
    for client, url, form in ((c["senior"], "/segments/refresh", "/segments/"),
                              (c["senior"], "/churn/score", "/churn/dashboard/")):
        token = csrf_token(client, form)
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code in (200, 302), (url, response.status_code)


def _propose_change(bank: Bank) -> list:
    from backoffice.extensions import db
    from backoffice.fields.registry import field_spec
    from backoffice.fields.values import to_storage
    from backoffice.review import service
    from models import Customer, Staff

    values = {"address": "提议地址标记PROPMK翠湖7361号", "annual_income": "7361999.17",
              "mobile": "13973619990"}
    hidden = "提议隐藏PROPHID"

    def propose():
        actor = db.session.get(Staff, bank.world.staff["rm2"])
        with service._acting_as(actor):
            customer = db.session.get(Customer, bank.world.customers["c_rm2"])
            custom = dict(customer.custom_fields or {})
            custom[mk.HIDDEN_FIELD] = to_storage(field_spec("customer", mk.HIDDEN_FIELD),
                                                 hidden, customer.record_uid)
            return service.propose_update(actor, customer,
                                          {**values, "custom_fields": custom}).id

    with bank.app.test_request_context():
        bank.ids["ChangeRequest"] = [_read(bank.app, propose)]
    return [mk.Marker("c_rm2", "Customer", "address", values["address"], "address"),
            mk.Marker("c_rm2", "Customer", "annual_income", values["annual_income"],
                      extra_forms=("7,361,999.17",)),
            mk.Marker("c_rm2", "Customer", "mobile", values["mobile"], "mobile"),
            mk.Marker("c_rm2", "Customer", f"custom_fields.{mk.HIDDEN_FIELD}", hidden)]


def _import_as_operator(bank: Bank) -> None:
    import csv

    client = bank.clients["operator"]
    matched = mk.values_for(IMPORT_MATCHED)
    bad = mk.values_for(IMPORT_BAD)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(IMPORT_HEADER)
    writer.writerow([matched["id_number"], "导入者写的名字", IMPORT_MOBILE, "B1"])
    writer.writerow([bad["id_number"], "坏行名字", "12345", "B2"])
    token = csrf_token(client, "/imports/upload")
    response = client.post("/imports/upload", data={
        "csrf_token": token, "kind": "customers", "mode": "skip_bad",
        "file": (io.BytesIO(buffer.getvalue().encode()), "marked.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    pk = int(re.search(r"/batch/(\d+)/mapping", response.headers["Location"]).group(1))
    page = client.get(f"/imports/batch/{pk}/mapping").get_data(as_text=True)
    form = {}
    for index in range(len(IMPORT_HEADER)):
        select = re.search(rf'name="col_{index}".*?</select>', page, re.S)
        chosen = re.search(r'<option value="([^"]*)" selected', select.group(0)) if select else None
        form[f"col_{index}"] = chosen.group(1) if chosen else ""
    token = csrf_token(client, "/resetmypassword/form")
    response = client.post(f"/imports/batch/{pk}/mapping",
                           data={"csrf_token": token, "template_name": "", **form})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    bank.ids["ImportBatch"] = [pk]


def _record_ids(bank: Bank) -> None:
    """Ids of the records the crawl requests, per entity: every world customer's records
    (in and out of each user's scope) and the newest rows of the other entities."""
    from sqlalchemy import select

    import models
    from backoffice.extensions import db
    from models import AuditLog

    for entity in bank.world.records_of("c_rm1"):
        bank.ids[entity] = [bank.world.records_of(key)[entity] for key in CUSTOMERS]

    def newest():
        found = {}
        for name, model in (("JobRun", models.JobRun), ("Campaign", models.Campaign),
                            ("Segment", models.Segment), ("ChurnModel", models.ChurnModel)):
            found[name] = db.session.scalars(select(model.id).order_by(model.id.desc())
                                             .limit(3).execution_options(crm_unscoped=True)
                                             ).all() or [1]
        customer_ids = [str(pk) for pk in bank.world.customers.values()]
        found["AuditLog"] = db.session.scalars(
            select(AuditLog.id).where(AuditLog.entity_id.in_(customer_ids))
            .order_by(AuditLog.id.desc()).limit(8)).all()
        found["ExportRequest"] = [1]
        return found

    bank.ids.update(_read(bank.app, newest))
    assert bank.ids["AuditLog"], "the setup wrote no operation-log rows about the customers"


def _forbidden_forms(bank: Bank, in_the_log: bool = False) -> dict:
    """username -> [(marker, text)]: every printing of a marker the user may not meet (on the
    operation log's pages: as the policy answers for the log's readers)."""
    from backoffice.extensions import db
    from backoffice.security import policy
    from models import Staff

    def compute():
        result = {}
        for username, user_id in bank.world.staff.items():
            viewer = policy.viewer_for(db.session.get(Staff, user_id))
            forms = []
            for marker in mk.all_markers() + bank.proposals:
                record = _record(marker)
                if in_the_log:
                    read = policy.log_read_access(marker.entity, marker.field, viewer)
                else:
                    read, _ = policy.read_access(marker.entity, marker.field, record, viewer)
                if read is not policy.Read.VISIBLE:
                    forms += [(marker, form) for form in marker.full_forms]
                if read is policy.Read.HIDDEN and marker.masked_form:
                    forms.append((marker, marker.masked_form))
            result[username] = forms
        return result

    return _read(bank.app, compute)


def _record(marker):
    """The record a marker lives in, loaded outside any user's scope (the policy is asked
    about it for each user)."""
    from backoffice.extensions import db
    from models import Account, Customer

    model, ids = (Customer, "customers") if marker.entity == "Customer" else (Account, "accounts")
    bank_world = _WORLD[0]
    return db.session.get(model, getattr(bank_world, ids)[marker.customer],
                          execution_options={"crm_unscoped": True})


_WORLD: list = []


# --- the routes -------------------------------------------------------------------------------


def _model_of(app, endpoint):
    views = {view.endpoint: view for view in app.appbuilder.baseviews}
    view = views.get(endpoint.split(".")[0])
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    return model.__name__ if model is not None else PK_ENTITY.get(endpoint)


def get_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods]


def crawl_urls(bank: Bank):
    """(endpoint, url) for every classified GET route worth requesting."""
    for rule in get_rules(bank.app):
        kind = CLASSIFIED.get(rule.endpoint)
        if kind is None or kind in NOT_CRAWLED:
            continue
        if "group_by" in rule.arguments:
            continue  # the same chart as its route without a grouping
        url = rule.rule
        if "fmt" in rule.arguments:
            for fmt in ("csv", "xlsx"):
                yield rule.endpoint, url.replace("<string:fmt>", fmt)
            continue
        if "pk" not in rule.arguments:
            yield rule.endpoint, url + ("?q=" + json.dumps({"page_size": 100})
                                        if url.startswith("/api/") else "")
            continue
        entity = PK_ENTITY.get(rule.endpoint) or _model_of(bank.app, rule.endpoint)
        for pk in bank.ids.get(entity, [1]):
            filled = re.sub(r"<(int:)?pk>", str(pk), url)
            if "field" in rule.arguments:
                for name in ("id_number", "mobile", "email", "address", "annual_income",
                             f"{mk.SENSITIVE_FIELD}", f"{mk.HIDDEN_FIELD}"):
                    yield rule.endpoint, filled.replace("<string:field>", name)
            elif "tab" in rule.arguments:  # every tab of the 360 page, any role's
                from backoffice.customers.panels import _TABS

                for key in sorted(_TABS):
                    yield rule.endpoint, filled.replace("<string:tab>", key)
            else:
                yield rule.endpoint, filled


def body_text(response) -> str:
    """What a response carries, as text: XLSX workbooks are read back cell by cell."""
    data = response.get_data()
    if data[:2] == b"PK" and "spreadsheet" in response.headers.get("Content-Type", ""):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True)
        cells = [str(cell) for sheet in book.worksheets
                 for row in sheet.iter_rows(values_only=True) for cell in row
                 if cell is not None]
        cells += [f"{cell:.2f}" for sheet in book.worksheets
                  for row in sheet.iter_rows(values_only=True) for cell in row
                  if isinstance(cell, float)]
        return "\n".join(cells)
    return data.decode("utf-8-sig", errors="replace")




def leaks_in(bank: Bank, username: str, endpoint: str, url: str, body: str) -> list[str]:
    found = []
    own_file = set()
    if username == "operator" and endpoint in IMPORT_ENDPOINTS:
        # The operator's own file: the values it carried are the operator's to see.
        own_file = {mk.values_for(IMPORT_MATCHED)["id_number"],
                    mk.values_for(IMPORT_BAD)["id_number"], IMPORT_MOBILE}
    forbidden = (bank.log_forbidden if endpoint.startswith("AuditLogView")
                 else bank.forbidden)[username]
    for marker, form in forbidden:
        if form in body and form not in own_file:
            found.append(f"{username} GET {url}: {marker} shown as {form!r}")
    scrubbed = body
    for value in own_file:
        scrubbed = scrubbed.replace(value, "")
    for pattern, what in ((MOBILE, "a full mobile number"), (PRC_ID, "a full ID number")):
        hit = pattern.search(scrubbed)
        if hit:
            found.append(f"{username} GET {url}: {what} {hit.group(0)[:4]}…")
    if not endpoint.startswith("AuditLogView"):
        for key in CUSTOMERS:
            if key not in VISIBLE[username] and f"客户{key}" in body:
                found.append(f"{username} GET {url}: names out-of-scope customer {key}")
    return found


def crawl(bank: Bank, username: str, client, headers=None, api_only=False,
          only=None) -> tuple:
    """Request every URL (of one endpoint, with ``only``) as one user: the leaks by endpoint,
    the server errors and how many responses were read."""
    leaks, errors, crawled = {}, [], 0
    for endpoint, url in crawl_urls(bank):
        if (api_only and not url.startswith("/api/")) or (only and endpoint != only):
            continue
        response = client.get(url, headers=headers or {})
        crawled += 1
        if response.status_code >= 500:
            errors.append(f"{username} GET {url}: {response.status_code}")
            continue
        found = leaks_in(bank, username, endpoint, url, body_text(response))
        if found:
            leaks.setdefault(endpoint, []).extend(found)
    return leaks, errors, crawled


# --- the tests --------------------------------------------------------------------------------


def test_every_get_route_is_classified(bank):
    """A route nobody has classified is a path nobody has checked: it fails until it is."""
    missing = sorted({rule.endpoint for rule in get_rules(bank.app)} - set(CLASSIFIED))
    assert not missing, (
        "Classify these GET endpoints in CLASSIFIED of tests/security/test_every_path.py "
        "(customer-data, config, export, job, form, action, download, static, auth) so the "
        f"every-path crawl checks them: {missing}")


@pytest.mark.parametrize("username", sorted(STAFF))
def test_no_marker_reaches_a_user_the_policy_withholds_it_from(bank, username):
    """Every classified GET route (pages, exports as CSV and XLSX, log details, import pages,
    job outputs), with ids in and out of scope: no forbidden printing of any marker."""
    leaks, errors, crawled = crawl(bank, username, bank.clients[username])
    assert not errors, errors[:10]
    assert not leaks, "\n".join(line for lines in leaks.values() for line in lines[:3])
    assert crawled > 150


@pytest.mark.parametrize("username", API_USERS)
def test_rest_api_with_a_jwt_shows_only_what_the_policy_allows(bank, username):
    token = api_token(bank.app.test_client(), username)
    client = bank.app.test_client()
    leaks, errors, crawled = crawl(bank, username, client,
                                   headers={"Authorization": f"Bearer {token}"}, api_only=True)
    assert not errors, errors[:10]
    assert not leaks, "\n".join(line for lines in leaks.values() for line in lines[:3])
    assert crawled >= 10


def _expected_on_show_page(bank: Bank, username: str, key: str) -> list[str]:
    """The printings the customer's own page must carry for this user: the full value of
    fields the policy shows in full, the masked value of masked ones."""
    from backoffice.extensions import db
    from backoffice.security import policy
    from models import Staff

    def compute():
        viewer = policy.viewer_for(db.session.get(Staff, bank.world.staff[username]))
        wanted = []
        for marker in mk.markers_for(key):
            record = _record(marker)
            read, _ = policy.read_access(marker.entity, marker.field, record, viewer)
            if read is policy.Read.VISIBLE:
                wanted.append(marker.full_forms)
            elif read is policy.Read.MASKED and marker.masked_form:
                wanted.append((marker.masked_form,))
        return wanted

    return _read(bank.app, compute)


@pytest.mark.parametrize("username", [u for u in sorted(STAFF) if VISIBLE[u]])
def test_the_customer_page_shows_what_the_policy_allows(bank, username):
    """The 360 page carries each marker in the form the policy gives this user (so that the
    crawl above cannot pass by showing nothing)."""
    client = bank.clients[username]
    missing = []
    for key in sorted(VISIBLE[username]):
        page = client.get(f"/customers/show/{bank.world.customers[key]}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        for tab in re.findall(r'data-src="([^"]+)"', text):  # the tabs load when opened
            text += client.get(tab).get_data(as_text=True)
        missing += [f"{key}: {forms[0]!r}"
                    for forms in _expected_on_show_page(bank, username, key)
                    if not any(form in text for form in forms)]
    assert not missing, f"{username}'s customer page lacks {missing}"


def test_the_full_mobile_appears_after_a_logged_reveal_only(bank):
    """The reveal shows the full value to its owner, and the operation log records it without
    the value."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from models import AuditLog

    mobile = mk.values_for("c_rm1")["mobile"]
    assert mobile in bank.revealed

    def entry():
        row = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal")
                                 .order_by(AuditLog.id.desc())).first()
        return row.actor_username, row.detail or ""

    actor, detail = _read(bank.app, entry)
    assert actor == "rm1" and mobile not in detail


def test_the_import_preview_tells_the_operator_nothing_of_the_matched_customer(bank):
    """The operator's file matches c_rm1 by ID number: the batch page and error report show
    the operator's own values and nothing of the existing record."""
    client = bank.clients["operator"]
    pk = bank.ids["ImportBatch"][0]
    existing = [m for m in mk.markers_for(IMPORT_MATCHED) if m.field != "id_number"]
    for url in (f"/imports/batch/{pk}", f"/imports/report/{pk}"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = body_text(response)
        assert "客户c_rm1" not in text and "T000000001" not in text, url
        for marker in existing:
            assert marker.value not in text, f"{url}: {marker}"
            assert not marker.masked_form or marker.masked_form not in text, f"{url}: {marker}"


@pytest.mark.parametrize("username", ["senior", "bm1", "rm1", "teller1"])
def test_the_live_count_answers_without_values(bank, username):
    """The rule builder's live count is a number (its bisection rules are tested with the
    segments); here: it answers, and carries no marker."""
    client = bank.clients[username]
    token = csrf_token(client, "/resetmypassword/form")
    rule = {"op": "and", "items": [
        {"field": "customer.annual_income", "op": "gt", "value": "7361940"}]}
    response = client.post("/segments/count", json={"rule": rule},
                           headers={"X-CSRFToken": token})
    assert response.status_code in (200, 403, 422), response.status_code
    assert not leaks_in(bank, username, "SegmentsView.count", "/segments/count",
                        response.get_data(as_text=True))


def test_the_crawl_detects_a_planted_leak(bank):
    """The checks find a marker printed where it must not be (the crawl cannot pass
    vacuously): the teller may not see c_rm1's deep profile or c_rm2's full mobile."""
    income = next(m for m in mk.markers_for("c_rm2") if m.field == "annual_income")
    mobile = next(m for m in mk.markers_for("c_rm2") if m.field == "mobile")
    found = leaks_in(bank, "teller1", "CustomerView.show", "/x",
                     f"<td>{mobile.value}</td><td>{income.extra_forms[0]}</td>")
    assert len([line for line in found if "c_rm2" in line]) >= 2, found
    assert MOBILE.search("手机 13800130001 ") and not MOBILE.search("138****0001")
