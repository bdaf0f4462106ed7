"""Nothing a page loads comes from outside the back office (bank intranets have no internet).

Every role signs in and the browser opens every page the roles can reach: the links of each
role's menu, every GET route of the URL map that takes no parameter, and, from every page, one
record page per kind of link in its tables (show, 360, edit), plus an error page. Each request
the browser makes (scripts, styles, fonts, images, XHR, WebSockets), found with the content
security policy bypassed so that a blocked attempt shows up too, must go to the app's own
origin. Requests elsewhere are aborted (no test ever reaches the internet) and reported with the
user and the page that made them. FAB's user statistics page, which loaded Google Charts from
gstatic.com, is among them.

What a page loads depends on its template, not on who reads it, so a page (a path with its ids
taken out) is opened once, by the first role that reaches it; every role's home page, whose
panels differ per role, is opened by each. Routes are first tried with a test client signed in
as the same user and only those answering 200 are opened in the browser. This keeps the crawl
near a minute on an idle two-core machine.
"""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.browser.steps import sign_in
from tests.support.web import login

# One user per role (tests/support/world.py), the widest readers first.
USERS = ("senior", "admin", "bm1", "rm1", "teller1", "operator", "auditor")
# Never followed: they sign out, switch the language, change or delete something, or download.
UNSAFE = re.compile(r"/logout|/lang/|/delete|/action|/download|/export|/reveal|/refresh|/score"
                    r"|/api/|/swagger|/back$|/login")
RECORD_LINK = re.compile(r"/(show|edit|\d+)(/|$)")
LOCAL_SCHEMES = ("data", "blob", "about", "chrome-error")


def shape(path: str) -> str:
    """A path with its record ids and query taken out: one page per shape is enough."""
    return re.sub(r"\d+", "{id}", urlsplit(path).path)


def candidate_routes(app) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and not UNSAFE.search(rule.rule)
                  and not rule.endpoint.endswith("static"))


def reachable(app, username: str, paths) -> list[str]:
    """The paths that answer 200 to this user (asked through a test client: no browser)."""
    client = app.test_client()
    assert login(client, username).status_code == 302, username
    return [path for path in paths if client.get(path).status_code == 200]


class Crawl:
    """The browser pages opened so far and the requests that left the app, over all users."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.origin = urlsplit(base)._replace(path="", query="", fragment="").geturl()
        self.username, self.current = "", ""
        self.shapes: set[str] = set()
        self.opened: dict[str, list[str]] = {}
        self.outside: list[tuple[str, str, str]] = []  # (user, page, request)

    def watch(self, page, username: str) -> None:
        self.page, self.username, self.current = page, username, "(sign-in)"
        self.opened[username] = []
        page.context.on("request", lambda request: self._check(request.url,
                                                               request.resource_type))
        page.on("websocket", lambda ws: self._check(ws.url, "websocket"))

    def _same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def _check(self, url: str, kind: str) -> None:
        if urlsplit(url).scheme not in LOCAL_SCHEMES and not self._same_origin(url):
            self.outside.append((self.username, self.current, f"{kind} {url}"))

    def open(self, path: str, *, again: bool = False) -> bool:
        """Open ``path`` unless a page of its shape was opened already (``again``: anyway)."""
        key = shape(path)
        if key in self.shapes and not again:
            return False
        self.shapes.add(key)
        self.current = path
        self.opened[self.username].append(path)
        self.page.goto(self.base + path, wait_until="load")
        return True

    def links(self, selector: str) -> list[str]:
        """Same-site links on the current page (a link off the site is reported)."""
        found = []
        for href in self.page.eval_on_selector_all(
                selector, "els => els.map(e => e.getAttribute('href'))"):
            if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
                continue
            url = urljoin(self.base + self.current, href)
            if not self._same_origin(url):
                self.outside.append((self.username, self.current, f"link {href}"))
                continue
            parts = urlsplit(url)
            if not UNSAFE.search(parts.path):
                found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return found

    def record_pages(self) -> list[str]:
        """A show/360/edit page per kind of record link in the current page's tables."""
        return [urlsplit(path).path for path in self.links("table a[href], .list-group a[href]")
                if RECORD_LINK.search(urlsplit(path).path) and shape(path) not in self.shapes]


@pytest.fixture
def browser(page):
    """The session's headless Chromium (the ``page`` fixture launches it)."""
    return page.context.browser


def crawl_as(crawl: Crawl, browser, app, username: str, routes: list[str], shoot) -> None:
    # CSP bypassed: a request the policy would block must still show up here to be reported.
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900},
                                  bypass_csp=True)
    context.route(re.compile(rf"^(?!{re.escape(crawl.base)}(/|$))(https?|wss?)://"),
                  lambda route: route.abort())
    try:
        page = context.new_page()
        page.set_default_navigation_timeout(30_000)
        crawl.watch(page, username)
        sign_in(page, crawl.base, username)
        crawl.current = "/"
        menu = crawl.links(".navbar a[href]")
        crawl.open("/", again=True)  # the home page's panels differ per role
        unseen = [path for path in routes if shape(path) not in crawl.shapes]
        queue = [*menu, *reachable(app, username, unseen), "/no-such-page/"]  # + the 404 page
        while queue:
            path = queue.pop(0)
            if not crawl.open(path):
                continue
            if path.startswith("/userstatschartview/"):
                page.locator(".crm-chart .main-svg, .crm-chart-empty").first.wait_for()
                shoot(page, "01-user-statistics")
            queue.extend(crawl.record_pages())
    finally:
        context.close()


def test_no_page_of_any_role_loads_anything_from_outside(browser, app, world, live_server,
                                                          shoot_page):
    crawl = Crawl(live_server)
    routes = candidate_routes(app)
    for username in USERS:
        crawl_as(crawl, browser, app, username, routes, shoot_page)
    every = [path for paths in crawl.opened.values() for path in paths]
    # The crawl reached real pages, not only login forms: screens of every room, records too.
    for expected in ("/no-such-page/", "/userstatschartview/chart/", "/customers/list/", "/churn/dashboard/",
                     "/segments/tiers", "/auditlog/list/", "/imports/"):
        assert expected in every, f"{expected} was not opened: {every}"
    assert any(path.startswith("/customers/show/") for path in every), every
    assert any(path.startswith("/customers/edit/") for path in every), every
    assert not crawl.outside, "requests outside the app:\n" + "\n".join(
        f"  {user} on {page}: {request}" for user, page, request in crawl.outside)


def test_the_crawl_reports_a_request_to_outside(browser, live_server, world):
    """The check above can fail: an image from another host, added to a real page, is caught
    (and aborted, so the test never reaches the internet)."""
    crawl = Crawl(live_server)
    context = browser.new_context(bypass_csp=True)
    context.route(re.compile(rf"^(?!{re.escape(crawl.base)}(/|$))(https?|wss?)://"),
                  lambda route: route.abort())
    try:
        page = context.new_page()
        crawl.watch(page, "nobody")
        crawl.open("/login/")
        page.evaluate("""() => new Promise(done => {
            const img = document.createElement('img');
            img.onerror = img.onload = done;
            img.src = 'https://www.gstatic.com/charts/loader.png';
            document.body.appendChild(img);
        })""")
    finally:
        context.close()
    assert crawl.outside == [("nobody", "/login/", "image https://www.gstatic.com/charts/loader.png")]


def test_no_stylesheet_imports_from_outside(app):
    """The app's own stylesheets and a configured FAB theme (Bootswatch themes @import Google
    Fonts) load nothing from outside; checked without a browser, so it fails fast."""
    from pathlib import Path

    import flask_appbuilder

    sheets = sorted(Path(app.static_folder).rglob("*.css"))
    theme = app.config.get("APP_THEME") or ""
    if theme:
        fab_themes = Path(flask_appbuilder.__file__).parent / "static/appbuilder/css/themes"
        sheets.append(fab_themes / theme if (fab_themes / theme).exists()
                      else Path(app.static_folder) / theme)
    assert sheets, "no stylesheet found"
    outside = re.compile(r"(@import\s+(url\()?|url\()\s*['\"]?(https?:)?//", re.I)
    found = [str(sheet) for sheet in sheets if outside.search(sheet.read_text(encoding="utf-8"))]
    assert found == []
