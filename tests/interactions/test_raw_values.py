"""No raw value on a screen or in an export: every value shown is a label in the user's
language. Crawls the main list, show and form pages of each role (Chinese and English) and
fails on ``__None`` (a relation select's empty choice), Python's ``None``/``True``/``False``,
English role codes, operation-log action codes and dict dumps in the visible text; then reads
the CSV exports of the lists and of the operation log for the same."""
from __future__ import annotations

import csv
import io
import re

import pytest

from backoffice.audit.words import ACTION_LABELS
from tests.support.crawl import crawl, pages_with, raw_values_in

ROLES = ("admin", "senior", "bm1", "rm1", "teller1", "operator", "auditor")
ACTION_CODES = sorted(code for code in ACTION_LABELS if "_" in code or "." in code)
ACTION_CODE = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, ACTION_CODES)) +
                         r")(?![\w/.-])")
KINDS = ("None", "True/False", "__None", "dict or list dump")
ROLE_CODES = ("Admin", "SeniorManager", "BranchManager", "RelationshipManager", "Teller",
              "Operator", "Auditor")
# In English two roles' labels are their codes ("Teller", "Auditor"): only the others tell.
EN_SAME_AS_LABEL = {"Teller", "Auditor"}
EXTRA = ("/followups/add", "/interactions/add", "/customers/add", "/field-sets/add",
         "/custom-fields/add", "/auditlog/list/", "/mytasks/list/")


def _action_codes(page):
    return [("action code", text) for text in page.texts if ACTION_CODE.search(text)]


def _role_codes(page):
    codes = [c for c in ROLE_CODES if page.language == "zh" or c not in EN_SAME_AS_LABEL]
    if page.language == "en":
        codes.remove("Admin")  # "Admin" is a word of English screens ("Admin" menu)
    pattern = re.compile(r"(?<![\w/.-])(" + "|".join(codes) + r")(?![\w/.-])")
    return [("role code", text) for text in page.texts if pattern.search(text)]


@pytest.fixture(scope="module")
def logged_actions(app, world):
    """A few operation-log rows of the actions the brief names, so the auditor's pages show
    them (a 360 view, a configuration change with a dict detail, a login)."""
    from backoffice.audit.log import record
    from backoffice.extensions import db

    with app.test_request_context("/"):
        record("view_360", entity="Customer", entity_id=world.customers["c_rm1"],
               customer_id=world.customers["c_rm1"], actor="rm1")
        record("config_change", entity="ChurnSetting", actor="admin",
               detail={"op": "update", "changes": {"threshold": [0.5, 0.6]}, "enabled": True,
                       "note": None})
        db.session.commit()
    yield


@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_raw_values_on_the_main_pages_of_any_role(app, world, logged_actions, language):
    crawls = [crawl(app, user, language, budget=45, extra_urls=EXTRA) for user in ROLES]
    assert all(c.pages for c in crawls)
    errors = [e for c in crawls for e in c.errors()]
    assert not errors, errors[:3]
    raw = pages_with(crawls, raw_values_in, kinds=KINDS)
    codes = pages_with(crawls, _action_codes)
    roles = pages_with(crawls, _role_codes)
    assert not raw, "\n".join(f"{k}: {v[:4]}" for k, v in raw.items())
    assert not codes, "\n".join(f"{k}: {v[:4]}" for k, v in codes.items())
    assert not roles, "\n".join(f"{k}: {v[:4]}" for k, v in roles.items())
    # The crawl did reach the pages this rule is about.
    urls = {p.url for c in crawls for p in c.pages}
    assert {"/followups/add", "/auditlog/list/"} <= urls


def _csv_cells(response) -> list[str]:
    text = response.get_data().decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.parametrize("user, url", [
    ("rm1", "/customers/export/csv"),
    ("rm1", "/followups/export/csv"),
    ("rm1", "/interactions/export/csv"),
    ("auditor", "/auditlog/export/csv"),
])
def test_exports_hold_labels_not_raw_values(app, world, client_as, logged_actions, user, url):
    response = client_as(user).get(url)
    assert response.status_code == 200, url
    cells = _csv_cells(response)
    assert len(cells) > 3
    bad = [cell for cell in cells
           if cell in ("None", "True", "False", "__None")
           or ACTION_CODE.search(cell) or re.match(r"^\s*[\[{]\s*['\"]", cell)
           or any(re.search(rf"(?<!\w){code}(?!\w)", cell) for code in
                  ("SeniorManager", "BranchManager", "RelationshipManager", "Teller",
                   "Auditor"))]
    assert not bad, bad[:10]


def test_the_log_shows_actions_roles_and_details_in_words(app, world, client_as,
                                                          logged_actions):
    from tests.support.visible_text import visible_text

    client = client_as("auditor")
    listed = visible_text(client.get("/auditlog/list/?_flt_0_action=config_change")
                          .get_data(as_text=True))
    assert "config_change" not in listed
    assert "修改配置" in listed or "Changed the configuration" in listed
    from sqlalchemy import select

    from backoffice.extensions import db
    from models.audit import AuditLog

    with app.app_context():
        row_id = db.session.scalars(select(AuditLog.id)
                                    .where(AuditLog.action == "config_change")
                                    .order_by(AuditLog.id.desc())).first()
        db.session.remove()
    shown = visible_text(client.get(f"/auditlog/show/{row_id}").get_data(as_text=True))
    assert "{'" not in shown and '{"' not in shown and "True" not in shown
    assert "threshold" in shown  # the detail's content is there, as lines
