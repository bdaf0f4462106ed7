"""The Chinese catalogue: complete, consistent with the sources, and actually served by the app.

``backoffice/translations/zh/LC_MESSAGES/messages.po`` translates the back office's own strings
and every Flask-AppBuilder UI string (FAB's own zh catalogue is incomplete and partly wrong;
flask-babel loads FAB's catalogue first and ours last, so ours wins on every shared msgid).

When a test here fails because of a new string, refresh and translate it::

    make translations        # extract (ours + FAB) -> pybabel update -> then fill in the msgstrs

The extraction rules live in ``babel.cfg``; the tests read the same file.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CompileCatalog, parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "backoffice" / "translations"
ZH_PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
ZH_MO = ZH_PO.with_suffix(".mo")
KEYWORDS = {**DEFAULT_KEYWORDS, **parse_keywords(["_l", "lazy_gettext", "lazy_pgettext:1c,2"])}


def fab_dir() -> Path:
    import flask_appbuilder

    return Path(flask_appbuilder.__file__).resolve().parent


def load_catalog():
    with open(ZH_PO, "rb") as fileobj:
        return read_po(fileobj, locale="zh")


def ensure_compiled() -> None:
    """Compile the zh catalogue when its .mo is missing or older than the .po (.mo is not in git).

    Written to a temporary file and moved into place, so that a concurrent test run never
    reads a half-written .mo.
    """
    if ZH_MO.exists() and ZH_MO.stat().st_mtime >= ZH_PO.stat().st_mtime:
        return
    partial = ZH_MO.with_name(f"messages.mo.{os.getpid()}.tmp")
    command = CompileCatalog()
    command.initialize_options()
    command.input_file = str(ZH_PO)
    command.output_file = str(partial)
    command.locale = "zh"
    command.finalize_options()
    try:
        assert command.run() == 0, f"pybabel compile reported errors in {ZH_PO}"
        os.replace(partial, ZH_MO)
    finally:
        if partial.exists():
            partial.unlink()


# Compile while the tests are collected, before any test renders a page: flask-babel caches a
# locale's merged catalogues for the life of the app, and the app fixture is session-wide.
ensure_compiled()


def extracted_messages(source: Path) -> dict[tuple[str, str | None], list[str]]:
    """(msgid, context) -> locations, extracted from ``source`` with the rules in babel.cfg."""
    with open(BABEL_CFG, encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, str(BABEL_CFG))
    found: dict[tuple[str, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        source, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


# --- (a) complete ------------------------------------------------------------------------------


def test_every_msgid_is_translated_and_none_is_fuzzy():
    catalog = load_catalog()
    assert catalog.locale_identifier == "zh"
    untranslated, fuzzy = [], []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s and s.strip() for s in strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"msgids without a zh msgstr in {ZH_PO}: {untranslated}"
    assert not fuzzy, f"fuzzy entries (check, then drop the fuzzy flag) in {ZH_PO}: {fuzzy}"
    assert len(catalog) > 300  # ours + FAB's: a truncated catalogue should not pass quietly


def test_catalogue_compiles_without_errors():
    catalog = load_catalog()
    errors = [(message.id, [str(e) for e in errs]) for message, errs in catalog.check()]
    assert not errors, errors
    ensure_compiled()
    assert ZH_MO.exists()


# --- (b) in step with the sources --------------------------------------------------------------


@pytest.mark.parametrize("source", ["back office", "flask_appbuilder"])
def test_every_source_string_has_a_zh_translation(source):
    """A developer who adds a string without a translation gets the list of missing msgids."""
    folder = ROOT if source == "back office" else fab_dir()
    found = extracted_messages(folder)
    assert found, f"nothing extracted from {folder}: check babel.cfg"
    catalog = load_catalog()
    missing = {}
    for (msgid, context), locations in sorted(found.items(), key=lambda item: item[0][0]):
        message = catalog.get(msgid, context=context)
        if message is None or not message.string or message.fuzzy:
            missing[msgid] = locations[:3]
    assert not missing, (
        f"{len(missing)} translatable {source} string(s) have no zh translation in {ZH_PO}; "
        "run `make translations` and translate them:\n"
        + "\n".join(f"  {msgid!r}  ({', '.join(where)})" for msgid, where in missing.items())
    )


# --- (c) placeholders --------------------------------------------------------------------------

_PERCENT = re.compile(r"%(?:\((?P<name>[^)]+)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
                      r"(?P<conv>[diouxXeEfFgGcrsa%])")
_BRACE = re.compile(r"(?<!\{)\{(?P<field>[^{}]*)\}(?!\})")


def placeholders(text: str) -> Counter:
    found = Counter()
    for match in _PERCENT.finditer(text):
        if match.group("conv") != "%":
            found[f"%({match.group('name') or ''}){match.group('conv')}"] += 1
    for match in _BRACE.finditer(text.replace("{{", "").replace("}}", "")):
        found["{" + match.group("field") + "}"] += 1
    return found


def test_placeholder_helper():
    assert placeholders("%(count)s task(s) marked done.") == Counter({"%(count)s": 1})
    assert placeholders("%s of %d, 100%%") == Counter({"%()s": 1, "%()d": 1})
    assert placeholders("Hello {name}, {{literal}} {}") == Counter({"{name}": 1, "{}": 1})
    assert placeholders("Progress %") == Counter()


def test_placeholders_match_between_msgid_and_msgstr():
    mismatched, unflagged = [], []
    for message in load_catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = placeholders(ids[-1])
        for string in strings:
            if string and placeholders(string) != wanted:
                mismatched.append((message.id, string))
        if any(k.startswith("%") for k in wanted) and "python-format" not in message.flags:
            unflagged.append(message.id)
    assert not mismatched, f"placeholders differ between msgid and msgstr: {mismatched}"
    assert not unflagged, f"%-placeholders without the python-format flag: {unflagged}"


# --- (d) served by the app ---------------------------------------------------------------------


@pytest.fixture
def zh_app(app):
    """The app, with the compiled catalogue and flask-babel's per-locale cache emptied."""
    ensure_compiled()
    babel_state = app.extensions["babel"]
    domain = getattr(babel_state.instance, "domain_instance", None)
    if domain is not None:
        domain.cache.clear()
    return app


def test_our_catalogue_wins_over_fabs(zh_app):
    from flask_babel import force_locale, gettext

    with zh_app.test_request_context("/"):
        with force_locale("zh"):
            assert gettext("Logout") == "退出登录"  # FAB's zh says 注销
            assert gettext("Edit") == "编辑"  # FAB's zh has no translation
            assert gettext("Relationship manager") == "客户经理"
        with force_locale("en"):
            assert gettext("Logout") == "Logout"
            assert gettext("Relationship manager") == "Relationship manager"


def test_login_page_is_chinese_by_default_and_english_after_switching(zh_app):
    client = zh_app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    assert 'value="登录"' in page  # FAB's "Sign In" button
    assert "请在下方输入用户名和密码" in page  # our wording, not FAB's
    assert "Enter your login and password below" not in page

    switched = client.get("/lang/en")
    assert switched.status_code == 302
    page = client.get("/login/").get_data(as_text=True)
    assert 'value="Sign In"' in page
    assert "Enter your login and password below" in page
    assert "登录" not in page


def test_screens_show_our_strings_and_fabs_in_chinese(zh_app, client_as):
    client = client_as("rm1")
    page = client.get("/customers/list/").get_data(as_text=True)
    assert "客户号" in page  # ours: the "Customer number" column
    assert "风险承受能力" in page  # ours: the "Risk tolerance" column
    assert "记录数" in page  # FAB: "Record Count"
    assert "Customer number" not in page
    assert "Record Count" not in page

    client.get("/lang/en")
    page = client.get("/customers/list/").get_data(as_text=True)
    assert "Customer number" in page
    assert "Record Count" in page
    assert "客户号" not in page


# --- (e) one English word, two meanings: message contexts ---------------------------------------


def test_contexts_are_extracted_from_python_and_templates():
    """pgettext / lazy_pgettext (Python) and pgettext (Jinja) reach the catalogue with their
    context, so "Open" of an account and "Open" of a task are two entries."""
    found = extracted_messages(ROOT)
    for key in [("Open", "account status"), ("Open", "task status"), ("Closed", "campaign status"),
                ("Pending", "change request status"), ("Tier", "churn warning"),
                ("Active", "model in use"), ("OK", "dialog button")]:
        assert key in found, f"{key} not extracted: check the keywords in babel.cfg"
    catalog = load_catalog()
    assert catalog.get("Open", context="account status").string == "正常"
    assert catalog.get("Open", context="task status").string == "待处理"


WORDS = [  # (context, msgid, zh): the wrong words users met, and what each use says now
    ("account status", "Open", "正常"),
    ("task status", "Open", "待处理"),
    ("complaint status", "Open", "待处理"),
    ("customer status", "Active", "正常"),
    ("campaign status", "Closed", "已结束"),
    ("customer status", "Closed", "已销户"),
    ("change request status", "Pending", "待审核"),
    ("message status", "Pending", "待发送"),
    ("churn warning", "Tier", "预警等级"),
    (None, "Tier", "客户层级"),
]


@pytest.mark.parametrize("context, msgid, zh", WORDS)
def test_each_meaning_has_its_own_chinese(zh_app, context, msgid, zh):
    from flask_babel import force_locale, gettext, pgettext

    with zh_app.test_request_context("/"):
        with force_locale("zh"):
            said = pgettext(context, msgid) if context else gettext(msgid)
            assert said == zh
        with force_locale("en"):
            said = pgettext(context, msgid) if context else gettext(msgid)
            assert said == msgid


def test_status_labels_use_their_context(zh_app):
    """The labels the screens show for stored codes, each in its own sense."""
    from flask_babel import force_locale

    from backoffice.campaigns.views import STATUS_LABELS as CAMPAIGN
    from backoffice.review.views import STATUS_LABELS as REVIEW
    from models import choices

    with zh_app.test_request_context("/"), force_locale("zh"):
        assert str(choices.ACCOUNT_STATUSES["open"]) == "正常"
        assert str(choices.TASK_STATUSES["open"]) == "待处理"
        assert str(choices.CUSTOMER_STATUSES["active"]) == "正常"
        assert str(CAMPAIGN["closed"]) == "已结束"
        assert str(REVIEW["pending"]) == "待审核"


def test_commands_speak_the_default_locale(zh_app):
    """`flask crm ...` has no user and no session: it prints in BABEL_DEFAULT_LOCALE (zh)."""
    from flask_babel import gettext

    from backoffice.campaigns.evaluation import _columns

    with zh_app.app_context():
        assert zh_app.config["BABEL_DEFAULT_LOCALE"] == "zh"
        assert gettext("Campaign") == "营销活动"
        headers = [title for _width, title in _columns()]
        assert "新客户" in headers and "对照组" in headers
