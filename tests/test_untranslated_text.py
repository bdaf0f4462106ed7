"""No screen shows an English message id to a Chinese user, nor Chinese to an English one.

Every seeded user's screens are crawled in both languages (``tests/support/crawl.py``: every
GET route without parameters, then the list, show, 360, edit and add pages linked from them).
On a zh page a visible fragment that equals a msgid of the catalogue (whose Chinese differs)
was shown without translation: a string never wrapped in ``_()``, a label evaluated outside a
request, a template text FAB hard-codes, a msgid missing from the catalogue. On an en page a
fragment equal to a Chinese msgstr is a translation that leaked into English (a label cached
in the wrong language). Error pages are checked the same way.
"""
from __future__ import annotations

import warnings

import pytest

from tests.support import crawl as cr
from tests.support.world import CUSTOMERS, STAFF

LANGUAGES = ("zh", "en")
# Pages per (user, language): enough for one screen of every shape a role reaches, small enough
# that all users in both languages cost about a minute of CPU on SQLite.
BUDGET = {"zh": 140, "en": 90}
# Data of the seeded bank that happens to equal a msgstr or msgid: values, not interface text
# (the product and branch names of tests/support/world.py, the occasions the migrations seed in
# Chinese, the ISO currency code of an account).
DATA = {"活期存款", "Test Branch One", "Test Branch Two", "听力辅助", "Hearing aid", "北京",
        "生日", "开户周年", "CNY"}
# FAB's permission screens list permission and view names: identifiers of the code, which an
# administrator matches against config/roles.py, not words.
IDENTIFIER_PAGES = ("/viewmenus/", "/permissions/", "/permissionviews/", "/roles/")
# Raw codes shown where a label belongs, fixed in the "every value is a label" work of the same
# issue (forms): fragment -> the pages where it may still appear, reported as warnings there and
# failing anywhere else. Remove an entry once its page shows a label.
PENDING: dict[str, tuple[str, ...]] = {}


@pytest.fixture(scope="module")
def catalogue():
    return cr.Catalogue.from_po()


@pytest.fixture(scope="module")
def own_job(app, world):
    """A finished background job of this module's own, read first so that the job page the
    crawl reads is this one (the list shows the newest first: whatever job another test left
    behind, with the result and message that test gave it)."""
    from sqlalchemy import delete

    from backoffice.extensions import db
    from models import JobRun

    with app.app_context():
        run = JobRun(name="jobs.summaries.refresh", status="finished", done=3, total=3)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        db.session.remove()
    yield run_id
    with app.app_context():
        db.session.execute(delete(JobRun).where(JobRun.id == run_id))
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="module")
def crawls(app, world, own_job):
    """Record pages (show, edit) are read one per kind: this module's own job page goes first,
    so the crawl does not depend on what other tests left in the jobs list."""
    first = (f"/jobs/show/{own_job}",)
    return {(user, language): cr.crawl(app, user, language, budget=BUDGET[language],
                                       extra_urls=first)
            for user in STAFF for language in LANGUAGES}


def test_the_crawl_reaches_every_kind_of_screen(crawls):
    """The crawl cannot pass by reading nothing: lists, show, edit, add and 360 pages of the
    seeded records are among what it read, in both languages."""
    for language in LANGUAGES:
        urls = {page.url for (user, lang), result in crawls.items() if lang == language
                for page in result.pages if page.status == 200}
        for marker in ("/list/", "/show/", "/edit/", "/add", "/customers/show/"):
            assert any(marker in url for url in urls), (language, marker)
    rm1 = {page.url for page in crawls[("rm1", "zh")].pages}
    assert len(rm1) >= 30, sorted(rm1)


def test_no_page_answers_a_server_error(crawls):
    errors = [line for result in crawls.values() for line in result.errors()]
    assert not errors, errors


def _identifiers(app) -> set[str]:
    from backoffice.extensions import db

    with app.app_context():
        sm = app.appbuilder.sm
        names = {view.name for view in sm.get_all_view_menu()}
        names |= {permission.name for permission in db.session.query(sm.permission_model)}
        db.session.remove()
    return names


def _findings(crawls, catalogue, user, language, identifiers) -> tuple[dict, dict]:
    """(failures, pending) per page: what the page shows that it should have translated."""
    failures, pending = {}, {}
    for page in crawls[(user, language)].pages:
        allowed = set(DATA)
        if page.url.startswith(IDENTIFIER_PAGES):
            allowed |= identifiers
        for fragment in cr.untranslated_in(page, catalogue, allowed=allowed):
            if page.url.startswith(PENDING.get(fragment, ())):
                pending.setdefault(page.url, []).append(fragment)
            else:
                failures.setdefault(page.url, []).append(fragment)
    return failures, pending


_PENDING_SEEN: set[str] = set()


@pytest.mark.parametrize("user", list(STAFF))
def test_zh_screens_show_no_untranslated_message(app, crawls, catalogue, user):
    failures, pending = _findings(crawls, catalogue, user, "zh", _identifiers(app))
    for url, fragments in pending.items():
        _PENDING_SEEN.update(fragments)
        warnings.warn(f"{user}/zh {url}: raw codes still shown: {fragments}")
    assert not failures, "English message ids on Chinese screens:\n" + "\n".join(
        f"  {user}/zh {url}: {found}" for url, found in sorted(failures.items()))


def test_no_shown_column_has_a_label_made_up_by_fab(app):
    """FAB labels a column it has no label for with its prettified name ("Rq Job Id"): English
    on every Chinese screen. ``backoffice/fab_words.py`` translates the known ones."""
    from backoffice.fab_words import made_up

    found = {}
    with app.app_context():
        for view in app.appbuilder.baseviews:
            labels = getattr(view, "label_columns", None)
            if not isinstance(labels, dict) or type(view).__name__.endswith("Api"):
                continue
            shown = set()
            for name in ("list_columns", "show_columns", "add_columns", "edit_columns",
                         "search_columns"):
                shown |= set(getattr(view, name, None) or [])
            for name in ("show_fieldsets", "add_fieldsets", "edit_fieldsets"):
                for _title, spec in getattr(view, name, None) or []:
                    shown |= set(spec.get("fields", []))
            bad = sorted(c for c in shown if c in labels and made_up(labels[c]))
            if bad:
                found[type(view).__name__] = {c: labels[c] for c in bad}
    assert not found, f"columns labelled by FAB from their names (add them to COLUMN_WORDS in " \
                      f"backoffice/fab_words.py or to the view's label_columns): {found}"


@pytest.mark.parametrize("user", list(STAFF))
def test_en_screens_show_no_chinese_translation(crawls, catalogue, user):
    report = cr.pages_with([crawls[(user, "en")]], cr.untranslated_in, catalogue=catalogue,
                           allowed=DATA | {f"客户{key}" for key in CUSTOMERS})
    assert not report, "Chinese translations on English screens:\n" + "\n".join(
        f"  {where}: {found}" for where, found in sorted(report.items()))


def test_the_language_switch_changes_the_screens(crawls):
    zh = {page.url: page for page in crawls[("rm1", "zh")].pages}
    en = {page.url: page for page in crawls[("rm1", "en")].pages}
    both = [url for url in en if url in zh and en[url].status == zh[url].status == 200]
    assert both
    for url in both[:10]:
        assert en[url].texts != zh[url].texts, url
    assert '<html lang="zh' in zh[both[0]].html or "客户" in zh[both[0]].html


@pytest.mark.parametrize("language", LANGUAGES)
def test_error_pages_speak_the_users_language(app, world, catalogue, language):
    client = app.test_client()
    from tests.support.web import login

    assert login(client, "rm1").status_code == 302
    client.get(f"/lang/{language}")
    missing = client.get("/no/such/screen")
    assert missing.status_code == 404
    hidden = client.get(f"/customers/show/{world.customers['c_rm3']}")  # another branch's
    assert hidden.status_code == 404
    denied = client.get("/auditlog/list/")  # a screen of the auditor's
    assert denied.status_code == 403
    pages = [cr.Page("rm1", language, url, response.status_code,
                     cr.parse(response.get_data(as_text=True))[0])
             for url, response in (("/no/such/screen", missing), ("hidden 360", hidden),
                                   ("/auditlog/list/", denied))]
    for page in pages:
        assert not cr.untranslated_in(page, catalogue), (page.url, page.texts)
        text = " ".join(page.texts)
        assert "The requested URL was not found" not in text
        assert "You don't have the permission" not in text
    expected = {"zh": ("页面不存在", "无权访问"), "en": ("Page not found", "Access denied")}
    assert any(expected[language][0] in text for text in pages[0].texts), pages[0].texts
    assert pages[1].texts == pages[0].texts  # an unseen record answers as nothing there
    assert any(expected[language][1] in text for text in pages[2].texts), pages[2].texts


def test_the_checks_find_planted_faults(catalogue):
    """The checks themselves: an English msgid on a zh page, a Chinese msgstr on an en page
    and raw values are each found; translated text and data are not."""
    zh = cr.Page("x", "zh", "/", 200, ["Record Count: 3", "记录数", "客户号", "Closed",
                                        "Test Branch One"])
    assert cr.untranslated_in(zh, catalogue, allowed=DATA) == ["Closed", "Record Count"]
    confirm = cr.Page("x", "zh", "/", 200, [], "", ["Are you sure you want to delete this item?"])
    assert cr.untranslated_in(confirm, catalogue) == ["Are you sure you want to delete this item"]
    en = cr.Page("x", "en", "/", 200, ["Record Count: 3", "记录数: 3", "客户cx"])
    assert cr.untranslated_in(en, catalogue) == ["记录数"]
    raw = cr.Page("x", "zh", "/", 200, ["None", "状态: True", "__None", "view_360",
                                         "SeniorManager", "{'a': 1}", "客户"])
    kinds = {kind for kind, _ in cr.raw_values_in(raw)}
    assert kinds == {"None", "True/False", "__None", "action code", "role code",
                     "dict or list dump"}
    assert cr.raw_values_in(raw, kinds=("None",), allowed={"None"}) == []
