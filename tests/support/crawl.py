"""Walk the back office as a user and read what the screens say.

One crawl per (user, language): log in through the login form, switch the language, request
every GET route of the URL map that takes no parameter, then follow the links found on those
pages (list -> show, edit, 360, add ...) breadth first, up to a budget. Links are grouped by
their shape (the path with numbers folded, and the names of the query arguments), and only a
few of each shape are requested, so the crawl reaches every kind of screen without walking
every record or every sort order.

Links that change something on GET, log a disclosure or hand out files (delete, actions,
reveal, language switch, logout, downloads, exports, the REST API) are never followed: the
crawl reads screens, it does not use them.

What is collected per page is the *visible text*: text nodes outside scripts and styles, plus
the attributes a user reads (``title``, ``placeholder``, ``alt``, ``aria-label``, the
``data-text`` of confirm dialogs, button values). Checks on that text live in the tests; this
module offers the reusable ones:

* :func:`untranslated_in` - fragments equal to a catalogue msgid that the page should have
  shown translated (the untranslated-text test);
* :func:`raw_values_in` - raw values a user should never meet (``None``, ``True``/``False``,
  ``__None``, role codes, action codes, dict/list dumps), for the forms and labels tests.

For example, a test of raw values over every role's screens::

    from tests.support import crawl as cr
    from tests.support.world import STAFF

    def test_no_raw_values(app, world):
        crawls = cr.crawl_all(app, STAFF, budget=80)
        report = cr.pages_with(crawls, cr.raw_values_in, kinds=("None", "__None", "True/False"))
        assert not report, report
"""
from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.support.web import login

ROOT = Path(__file__).resolve().parents[2]
ZH_PO = ROOT / "backoffice" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"

# Never requested: they change something on GET, log a disclosure, switch the session or hand
# out files rather than screens.
SKIP_PATH = re.compile(
    r"/(delete|action|action_post|reveal|download|export|logout|lang|api|static|_openapi"
    r"|progress|report)(/|$)|\.(csv|xlsx|json|js|css|png|ico|svg)$", re.I)
# Shapes whose query arguments only re-order or re-page the same screen.
_VOLATILE_ARGS = re.compile(r"^(_oc_|_od_|page_|psize_|next|_flt_\d+_)")
_NUMBER = re.compile(r"/\d+(?=/|$)")

VISIBLE_ATTRIBUTES = ("title", "placeholder", "alt", "aria-label", "data-text",
                      "data-original-title", "data-confirm")
BUTTON_TYPES = {"submit", "button", "reset"}
LINK_ATTRIBUTES = ("data-src", "data-href", "data-url")
SKIPPED_ELEMENTS = {"script", "style", "noscript", "template"}
_SCRIPT_STRING = re.compile(r"""(['"])((?:(?!\1)[^\\\n]|\\.){3,300}?)\1(?!\s*:)""")


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.script_texts: list[str] = []
        self.links: list[str] = []
        self._skip = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in SKIPPED_ELEMENTS:
            self._skip += 1
            self._in_script = tag == "script"
            return
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        for name in LINK_ATTRIBUTES:  # parts a page loads when opened (the 360 page's tabs)
            if attributes.get(name):
                self.links.append(attributes[name])
        for name in VISIBLE_ATTRIBUTES:
            if attributes.get(name):
                self._add(attributes[name])
        if tag == "input" and (attributes.get("type") or "").lower() in BUTTON_TYPES:
            self._add(attributes.get("value") or "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in SKIPPED_ELEMENTS:
            self._skip -= 1

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS and self._skip:
            self._skip -= 1
            self._in_script = False

    def handle_data(self, data):
        if not self._skip:
            self._add(data)
        elif self._in_script:
            # Sentences a script shows (confirm and alert texts): quoted strings with a space
            # that are not object keys.
            for match in _SCRIPT_STRING.finditer(data):
                text = " ".join(match.group(2).split())
                if " " in text and re.search(r"[A-Za-z]{2}", text):
                    self.script_texts.append(text)

    def _add(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.texts.append(text)


def parse(html: str, with_scripts: bool = False):
    """(visible text fragments, link targets) of an HTML page; with ``with_scripts``, also the
    sentences its inline scripts carry (confirm and alert texts)."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    if with_scripts:
        return parser.texts, parser.links, parser.script_texts
    return parser.texts, parser.links


@dataclass
class Page:
    user: str
    language: str
    url: str
    status: int
    texts: list[str] = field(default_factory=list)
    html: str = ""
    script_texts: list[str] = field(default_factory=list)


@dataclass
class Crawl:
    user: str
    language: str
    pages: list[Page] = field(default_factory=list)
    seconds: float = 0.0

    def errors(self) -> list[str]:
        return [f"{self.user}/{self.language} GET {p.url}: {p.status} {p.html[:200]}"
                for p in self.pages if p.status >= 500]


def shape(url: str) -> str:
    """The kind of screen a link leads to: numbers folded, volatile arguments dropped."""
    parts = urlsplit(url)
    keys = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)
                   if not _VOLATILE_ARGS.match(k)})
    return _NUMBER.sub("/N", parts.path) + ("?" + "&".join(keys) if keys else "")


def start_urls(app) -> list[str]:
    """Every GET route of the URL map without parameters that is a screen."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or SKIP_PATH.search(rule.rule):
            continue
        urls.append(rule.rule)
    return sorted(set(urls))


def _local(href: str, here: str) -> str | None:
    """The same-origin path (with query) a link points to, or None."""
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        if parts.netloc not in ("localhost", "127.0.0.1"):
            return None
    path = parts.path
    if not path.startswith("/"):
        base = urlsplit(here).path.rsplit("/", 1)[0]
        path = f"{base}/{path}"
    if SKIP_PATH.search(path):
        return None
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return path + ("?" + urlencode(query) if query else "")


def crawl(app, user: str, language: str = "zh", budget: int = 150, per_shape: int = 1,
          extra_urls: tuple[str, ...] = ()) -> Crawl:
    """Log in as ``user``, switch to ``language`` and read up to ``budget`` HTML pages."""
    client = app.test_client()
    response = login(client, user)
    assert response.status_code == 302, f"login as {user} failed ({response.status_code})"
    assert client.get(f"/lang/{language}").status_code == 302
    result = Crawl(user, language)
    began = time.perf_counter()
    # Links found on pages go first, the remaining routes of the URL map after them: a small
    # budget then still reaches show and edit pages, not only the top-level screens.
    found: deque[str] = deque(extra_urls)
    routes = deque(start_urls(app))
    seen_urls: set[str] = set()
    per: dict[str, int] = {}
    while (found or routes) and len(result.pages) < budget:
        url = found.popleft() if found else routes.popleft()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        kind = shape(url)
        if per.get(kind, 0) >= per_shape:
            continue
        per[kind] = per.get(kind, 0) + 1
        try:
            response = client.get(url)
        except Exception as error:  # TESTING propagates view errors: record them as a 500
            result.pages.append(Page(user, language, url, 500, [], f"{type(error).__name__}: "
                                                                   f"{error}"))
            continue
        if response.status_code in (301, 302, 303, 307, 308):
            continue  # a redirect (login, access denied): the target is crawled on its own
        content_type = response.headers.get("Content-Type", "")
        if "text/html" not in content_type and response.status_code < 500:
            continue
        html = response.get_data(as_text=True)
        texts, links, script_texts = parse(html, with_scripts=True)
        result.pages.append(Page(user, language, url, response.status_code, texts, html,
                                 script_texts))
        for href in links:
            target = _local(href, url)
            if target and target not in seen_urls:
                found.append(target)
    result.seconds = time.perf_counter() - began
    return result


# --- the catalogue -----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\([^)]+\)[#0 +\-]*\d*(?:\.\d+)?[sdifr]|%[sdif]|\{[^{}]*\}")
_EDGE = " \t:：·*()（）[]|-–—,，.。;；!?？/"


def load_catalogue(path: Path = ZH_PO):
    from babel.messages.pofile import read_po

    with open(path, "rb") as fileobj:
        return read_po(fileobj, locale="zh")


@dataclass
class Catalogue:
    """What a page in each language must not show, derived from the zh catalogue.

    ``english`` maps each msgid whose Chinese differs from the English to its entries; a
    fragment equal to one of them on a zh page was never translated. ``patterns`` does the same
    for msgids with placeholders (``%(name)s``, ``{name}``). ``chinese`` maps each msgstr to its
    msgid, for the reverse check on English pages.
    """

    english: dict[str, list] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern, str]] = field(default_factory=list)
    chinese: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_po(cls, path: Path = ZH_PO) -> "Catalogue":
        result = cls()
        for message in load_catalogue(path):
            if not message.id:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            msgstr = strings[0] or ""
            if msgstr == msgid or not re.search(r"[A-Za-z]{2}", msgid):
                continue  # the same in both languages (VIP, ATM, ROC-AUC) or no words
            result.english.setdefault(msgid.strip(_EDGE), []).append(message)
            if _PLACEHOLDER.search(msgid):
                pieces = _PLACEHOLDER.split(" ".join(msgid.split()).strip(_EDGE))
                if len(re.findall(r"[A-Za-z]{2,}", "".join(pieces))) >= 2:
                    regex = ".+?".join(re.escape(p) for p in pieces)
                    result.patterns.append((re.compile(regex), msgid))
            if msgstr and re.search(r"[\u4e00-\u9fff]", msgstr) and not _PLACEHOLDER.search(
                    msgstr):
                result.chinese.setdefault(msgstr.strip(_EDGE), msgid)
        return result


def _fragments(text: str) -> list[str]:
    """A text node and its parts: FAB writes ``Label: value`` and ``a · b`` in one node."""
    whole = text.strip(_EDGE)
    parts = {whole}
    for piece in re.split(r"\s[·|/]\s|[:：]\s*", text):
        piece = piece.strip(_EDGE)
        if piece:
            parts.add(piece)
    return [p for p in parts if p]


def untranslated_in(page: Page, catalogue: Catalogue, allowed: set[str] = frozenset()
                    ) -> list[str]:
    """Fragments of a page that are msgids shown untranslated (zh pages) or translations
    shown on an English page (en pages)."""
    found = []
    for text in page.texts + page.script_texts:
        for fragment in _fragments(text):
            if fragment in allowed:
                continue
            if page.language == "zh":
                if fragment in catalogue.english:
                    found.append(fragment)
                elif re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", fragment) and any(
                        regex.fullmatch(fragment) for regex, _ in catalogue.patterns):
                    found.append(fragment)
            elif page.language == "en" and fragment in catalogue.chinese:
                found.append(fragment)
    return sorted(set(found))


# --- raw values --------------------------------------------------------------------------------

RAW_VALUES = {
    # A value printed as Python prints it: a whole fragment, or after a label's colon ("None yet"
    # and "Trueman" are words, not values).
    "None": re.compile(r"(?:^|[:=：]\s*)None\s*(?:$|[,;)\]}])", re.M),
    "True/False": re.compile(r"(?:^|[:=：]\s*)(True|False)\s*(?:$|[,;)\]}])", re.M),
    "__None": re.compile(r"__None"),
    "dict or list dump": re.compile(r"^[\[{]\s*['\"][^'\"]+['\"]\s*[:,]"),
    "action code": re.compile(r"(?<![\w/.@-])[a-z]+(?:_[a-z0-9]+)+(?![\w/.@-])"),
}
ROLE_CODES = ("SeniorManager", "BranchManager", "RelationshipManager", "Teller", "Operator",
              "Auditor")


def raw_values_in(page: Page, kinds: tuple[str, ...] = tuple(RAW_VALUES) + ("role code",),
                  allowed: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(kind, text) of visible fragments that show a raw value instead of a label.

    ``kinds`` selects checks (keys of :data:`RAW_VALUES` plus ``"role code"``); ``allowed``
    lists exact fragments a caller accepts (an identifier a page is about, for example).
    """
    found = []
    for text in page.texts:
        if text in allowed:
            continue
        for kind in kinds:
            if kind == "role code":
                if any(re.search(rf"(?<!\w){code}(?!\w)", text) for code in ROLE_CODES):
                    found.append((kind, text))
            elif RAW_VALUES[kind].search(text):
                found.append((kind, text))
    return found


def crawl_all(app, users, languages=("zh", "en"), budget: int = 120) -> list[Crawl]:
    """One :func:`crawl` per user and language (``users``: names of the seeded staff)."""
    return [crawl(app, user, language, budget=budget) for user in users
            for language in languages]


def pages_with(crawls, check, **options) -> dict[str, list]:
    """``{"user/lang url": findings}`` of every crawled page where ``check`` finds something
    (``check`` is :func:`untranslated_in`, :func:`raw_values_in` or the caller's own)."""
    report = {}
    for result in crawls:
        for page in result.pages:
            found = check(page, **options)
            if found:
                report[f"{page.user}/{page.language} {page.url}"] = found
    return report
