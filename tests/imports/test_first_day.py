"""A bank's first day: from ``flask crm init`` on an empty database to its first customers.

Guards: a fresh installation (no demo) gets its branches, products and staff from spreadsheets
(CSV and XLSX, through the command line and the screens, with dry run and revert), the admin's
home shows the set-up checklist with its done marks, a new member of staff cannot sign in before
choosing a password through the one-time link (which works once, and not after it expires), and
the public churn file then imports into the bank set up only this way, by an operator the staff
file created. Staff files never carry passwords; the links are shown once.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, update

from backoffice.extensions import db
from models import Branch, Customer, Product, Staff
from models.imports import ImportBatch
from models.org import SetPasswordToken
from tests.imports.conftest import csv_bytes, xlsx_bytes
from tests.support.services import migration_app
from tests.support.web import csrf_token

ADMIN_PASSWORD = "Cobalt-Ledger-Harbour-93!"
NEW_PASSWORD = "Violet-Lantern-Orchard-2026!"
CHURN = Path(__file__).resolve().parents[3] / "shared" / "data" / "bank_churn" / \
    "Churn_Modelling.csv"
BRANCHES = [["FR01", "France", "Paris"], ["DE01", "Germany", "Berlin"],
            ["ES01", "Spain", "Madrid"]]
STAFF_HEADER = ["工号", "用户名", "姓名", "邮箱", "手机", "角色", "所属支行"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A scratch database, migrated and initialised by ``flask crm init`` alone (no demo),
    shared by the tests that add what they check to whatever the others left."""
    with initialised_app(tmp_path_factory.mktemp("firstday")) as app:
        yield app


@pytest.fixture
def pristine(tmp_path_factory):
    """A scratch database of its own: the first day starts from nothing, whatever ran before."""
    with initialised_app(tmp_path_factory.mktemp("pristine")) as app:
        yield app


@contextlib.contextmanager
def initialised_app(folder):
    with migration_app(folder) as app:
        with app.app_context():
            upgrade()
        result = app.test_cli_runner().invoke(args=["crm", "init", "--admin-password",
                                                    ADMIN_PASSWORD])
        assert result.exit_code == 0, result.output
        with app.app_context():  # the confidentiality agreement is not under test here
            db.session.execute(update(Staff).values(confidentiality_accepted_at=dt.datetime(
                2026, 1, 1)))
            db.session.commit()
            assert db.session.execute(select(func.count()).select_from(Branch)).scalar() == 0
        yield app


def cli(app, tmp_path, name: str, data: bytes, *args) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["crm", "import", str(path), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def read(app, fn):
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def login(client, username, password):
    token = csrf_token(client, "/login/")
    client.post("/login/", data={"username": username, "password": password,
                                 "csrf_token": token})
    with client.session_transaction() as session:
        return session.get("_user_id") is not None


def post(client, url, form_url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, form_url), **data})


def screen_import(app, client, data: bytes, name: str, kind: str, mapping=None) -> int:
    """Upload, map (the automatic mapping, changed by ``mapping``), dry run and commit."""
    token = csrf_token(client, "/imports/upload")
    response = client.post("/imports/upload", data={
        "csrf_token": token, "kind": kind, "mode": "atomic", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    pk = int(re.search(r"/batch/(\d+)/mapping", response.headers["Location"]).group(1))
    assert client.get(f"/imports/batch/{pk}/mapping").status_code == 200
    batch = read(app, lambda: (list(db.session.get(ImportBatch, pk).headers),
                               dict(db.session.get(ImportBatch, pk).mapping)))
    headers, auto = batch
    auto.update(mapping or {})
    form = {f"col_{i}": auto.get(h, "") for i, h in enumerate(headers)}
    response = post(client, f"/imports/batch/{pk}/mapping", f"/imports/batch/{pk}/mapping",
                    **form)
    assert response.status_code == 302
    status = read(app, lambda: db.session.get(ImportBatch, pk).status)
    assert status == "dry_run", status
    post(client, f"/imports/batch/{pk}/run/commit", f"/imports/batch/{pk}/mapping")
    status, message = read(app, lambda: (db.session.get(ImportBatch, pk).status,
                                         db.session.get(ImportBatch, pk).message))
    assert status == "committed", message
    return pk


def checklist(client) -> dict:
    page = client.get("/").get_data(as_text=True)
    if 'id="first-day-checklist"' not in page:
        return {}
    return dict(re.findall(r'id="step-(\w+)" data-done="(yes|no)"', page))


def test_first_day_from_init_to_the_churn_file(pristine, tmp_path):
    app = pristine
    admin = app.test_client()
    assert login(admin, "admin", ADMIN_PASSWORD)
    assert checklist(admin) == {"branches": "no", "staff": "no", "products": "no",
                                "custom_fields": "no", "customers": "no"}

    # Branches by the command line (CSV), products by the screen (XLSX).
    branches = cli(app, tmp_path, "branches.csv",
                   csv_bytes(["机构号", "机构名称", "城市"], BRANCHES), "--kind", "branches")
    assert (branches["status"], branches["created"]) == ("committed", 3)
    screen_import(app, admin, xlsx_bytes(["产品代码", "产品名称", "产品类别", "风险等级"], [
        ["DEP01", "活期宝", "活期存款", "R1"], ["WM01", "稳健理财", "理财", "中低风险"],
        ["FD01", "成长基金", "fund", "R4"]]), "products.xlsx", "products")
    assert read(app, lambda: dict(db.session.execute(select(Product.code, Product.risk_level))
                                  .all())) == {"DEP01": "R1", "WM01": "R2", "FD01": "R4"}

    # Staff by the screen (XLSX): the links are shown once, on the batch page, to the uploader.
    pk = screen_import(app, admin, xlsx_bytes(STAFF_HEADER, [
        ["E001", "op1", "王运营", "op1@bank.example", "13800138001", "数据运营", "FR01"],
        ["E002", "rm1", "李经理", "rm1@bank.example", "", "RelationshipManager", "Germany"]]),
        "staff.xlsx", "staff")
    page = admin.get(f"/imports/batch/{pk}").get_data(as_text=True)
    links = re.findall(r'class="set-password-link">([^<]+)<', page)
    assert len(links) == 2
    assert "set-password-link" not in admin.get(f"/imports/batch/{pk}").get_data(as_text=True)
    hashes = read(app, lambda: db.session.execute(select(SetPasswordToken.token_hash,
                                                         SetPasswordToken.sealed_link)).all())
    assert all(sealed is None for _, sealed in hashes)
    assert not any(link.rsplit("/", 1)[1] in digest for link in links for digest, _ in hashes)
    users = read(app, lambda: {u.username: (u.employee_no, u.branch.code, u.mobile,
                                            [r.name for r in u.roles], u.last_name + u.first_name)
                               for u in db.session.execute(select(Staff)).scalars()
                               if u.username != "admin"})
    assert users == {"op1": ("E001", "FR01", "13800138001", ["Operator"], "王运营"),
                     "rm1": ("E002", "DE01", None, ["RelationshipManager"], "李经理")}
    assert checklist(admin) == {"branches": "yes", "staff": "yes", "products": "yes",
                                "custom_fields": "no", "customers": "no"}

    # The new operator cannot sign in until they set a password through their link, once.
    operator = app.test_client()
    op_link = next(link for link in links if link)  # links follow the file's rows
    op_path = "/" + op_link.split("/", 3)[3]
    assert not login(operator, "op1", "")
    assert not login(operator, "op1", NEW_PASSWORD)
    weak = post(operator, op_path, op_path, password="123456", confirm="123456")
    assert weak.status_code == 200 and "set-password-problem" in weak.get_data(as_text=True)
    done = post(operator, op_path, op_path, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code == 302
    assert operator.get(op_path).status_code == 404  # used: the link works once
    assert login(operator, "op1", NEW_PASSWORD)
    # Neither the links' tokens nor the chosen password reach the operation log.
    from models.audit import AuditLog

    logged = read(app, lambda: " ".join(str(row) for row in db.session.execute(
        select(AuditLog.action, AuditLog.detail)).all()))
    assert "set_password" in logged
    for secret in [link.rsplit("/", 1)[1] for link in links] + [NEW_PASSWORD]:
        assert secret not in logged
    with app.app_context():
        db.session.execute(update(Staff).values(confidentiality_accepted_at=dt.datetime(
            2026, 1, 1)))
        db.session.commit()

    # The operator may import customers, not staff, branches or products.
    upload_form = operator.get("/imports/upload").get_data(as_text=True)
    assert 'value="customers"' in upload_form and 'value="staff"' not in upload_form
    assert 'value="branches"' not in upload_form
    refused = operator.post("/imports/upload", data={
        "csrf_token": csrf_token(operator, "/imports/upload"), "kind": "staff",
        "mode": "atomic", "file": (io.BytesIO(csv_bytes(STAFF_HEADER, [
            ["E009", "boss", "黑客", "b@bank.example", "", "Admin", ""]])), "s.csv")},
        content_type="multipart/form-data")
    assert refused.status_code == 200
    assert read(app, lambda: db.session.execute(select(Staff).where(
        Staff.username == "boss")).scalar()) is None

    # The public churn file: a few hundred rows, Geography mapped to the new branches (the
    # data set lies beside the repository, as in CI; a checkout elsewhere stops here).
    if not CHURN.exists():
        pytest.skip("the churn dataset is not in ../shared/data")
    lines = CHURN.read_bytes().splitlines(keepends=True)
    pk = screen_import(app, operator, b"".join(lines[:301]), "churn.csv", "customers",
                       mapping={"Geography": "branch", "Gender": "gender"})
    counts = read(app, lambda: dict(db.session.execute(
        select(Branch.code, func.count(Customer.id)).join(Customer, Customer.branch_id ==
                                                          Branch.id)
        .group_by(Branch.code).execution_options(crm_unscoped=True)).all()))
    expected = {"France": 0, "Germany": 0, "Spain": 0}
    for line in lines[1:301]:
        expected[line.decode().split(",")[4]] += 1
    assert counts == {"FR01": expected["France"], "DE01": expected["Germany"],
                      "ES01": expected["Spain"]}
    assert checklist(admin) == {"branches": "yes", "staff": "yes", "products": "yes",
                                "custom_fields": "no", "customers": "yes"}


def test_cli_staff_links_expire_and_revert_removes_unused_users(fresh, tmp_path):
    """Links printed by the CLI once; an expired link is refused; a login before the password
    fails; revert removes the users nobody has used yet."""
    app = fresh
    rows = [["X101", "cli_a", "赵一", "a@bank.example", "13900139001", "柜员", "ES01"],
            ["X102", "cli_b", "钱二", "b@bank.example", "", "Teller", ""]]
    cli(app, tmp_path, "b.csv", csv_bytes(["机构号", "机构名称"], [["ES01", "Spain"]]),
        "--kind", "branches")
    dry = cli(app, tmp_path, "staff.csv", csv_bytes(STAFF_HEADER, rows), "--kind", "staff",
              "--dry-run")
    assert dry["created"] == 2 and "set_password_links" not in dry
    assert read(app, lambda: db.session.execute(select(Staff).where(
        Staff.username == "cli_a")).scalar()) is None
    result = cli(app, tmp_path, "staff2.csv", csv_bytes(STAFF_HEADER, rows), "--kind", "staff")
    assert result["created"] == 2
    links = [item["link"] for item in result["set_password_links"]]
    assert [item["username"] for item in result["set_password_links"]] == ["cli_a", "cli_b"]
    client = app.test_client()
    assert not login(client, "cli_a", NEW_PASSWORD)
    with app.app_context():  # the first link has expired
        db.session.execute(update(SetPasswordToken).where(
            SetPasswordToken.user_id == select(Staff.id).where(Staff.username == "cli_a")
            .scalar_subquery()).values(expires_at=dt.datetime(2020, 1, 1)))
        db.session.commit()
    expired = links[0].split("/set-password/", 1)[1]
    assert client.get(f"/set-password/{expired}").status_code == 404
    assert client.get("/set-password/not-a-token").status_code == 404
    # Revert: both users are unused, so both go with their role links and tokens.
    from backoffice.imports import revert

    outcome = read(app, lambda: revert.revert(db.session, result["batch_id"]))
    assert (outcome["removed"], outcome["conflicts"]) == (2, 0)
    assert read(app, lambda: db.session.execute(select(func.count()).select_from(Staff).where(
        Staff.username.in_(["cli_a", "cli_b"]))).scalar()) == 0


def test_staff_rows_with_problems_are_reported_by_row_and_column(fresh, tmp_path):
    """Unknown role, unknown branch, a bad mobile and a duplicate number are each named."""
    app = fresh
    result = cli(app, tmp_path, "bad.csv", csv_bytes(STAFF_HEADER, [
        ["Y1", "bad_a", "孙三", "y1@bank.example", "12345", "Teller", ""],
        ["Y2", "bad_b", "周四", "y2@bank.example", "", "国王", ""],
        ["Y3", "bad_c", "吴五", "y3@bank.example", "", "Teller", "NOWHERE"],
        ["Y3", "bad_d", "郑六", "y4@bank.example", "", "Teller", ""],
        ["Y5", "good_e", "冯七", "y5@bank.example", "", "Teller", ""]]),
        "--kind", "staff", "--mode", "skip-bad")
    assert (result["created"], result["rejected"]) == (1, 4)
    text = json.dumps(result["common_problems"], ensure_ascii=False, default=str)
    for column in ("手机", "角色", "所属支行", "工号"):
        assert column in text, text
    assert [item["username"] for item in result["set_password_links"]] == ["good_e"]


def test_links_go_by_email_when_smtp_is_configured(fresh, tmp_path):
    """With SMTP configured each new user gets their link by e-mail and the operator sees none;
    the e-mailed link works once."""
    from tests.greetings.servers import SmtpServer

    app = fresh
    server = SmtpServer().start()
    app.config.update(CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=server.port)
    try:
        result = cli(app, tmp_path, "mail.csv", csv_bytes(STAFF_HEADER, [
            ["M1", "mail_a", "陈八", "mail_a@bank.example", "", "Auditor", ""]]),
            "--kind", "staff")
    finally:
        app.config.update(CRM_SMTP_HOST=None, CRM_SMTP_PORT=25)
        server.stop()
    assert result["created"] == 1 and result["set_password_links"] == []
    mails = server.recorder.snapshot()
    assert [m["to"] for m in mails] == ["mail_a@bank.example"]
    path = re.search(r"(/set-password/\S+)", mails[0]["body"]).group(1)
    client = app.test_client()
    assert post(client, path, path, password=NEW_PASSWORD,
                confirm=NEW_PASSWORD).status_code == 302
    assert client.get(path).status_code == 404
    assert login(client, "mail_a", NEW_PASSWORD)
