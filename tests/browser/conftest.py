"""A live server for the session app and a headless Chromium page driving it.

The browser is Debian's Chromium (``CRM_BROWSER``, default ``/usr/bin/chromium``), never one that
playwright downloads: bank intranets and CI machines have no internet. Without a browser the test
skips locally; in CI (``CRM_BROWSER`` set) a missing browser is a failure, not a skip.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

DEFAULT_BROWSER = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


@pytest.fixture(scope="session")
def browser_executable() -> str:
    configured = os.environ.get("CRM_BROWSER")
    path = configured or DEFAULT_BROWSER
    if not Path(path).is_file():
        if configured:
            pytest.fail(f"CRM_BROWSER={configured} does not exist (CI installs Debian's chromium)")
        pytest.skip(f"needs a browser: {DEFAULT_BROWSER} not found "
                    "(apt-get install chromium, or set CRM_BROWSER)")
    return path


class QuietHandler(WSGIRequestHandler):
    """No access-log line per asset: a failing test's report shows the test's own messages."""

    def log_request(self, *args, **kwargs):
        pass


@contextlib.contextmanager
def serve(wsgi_app, name: str = "live-server"):
    """Serve an app over real HTTP on a free loopback port, in a background thread."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def live_server(app, world):
    """The session app (jobs inline, as embedded) served over HTTP."""
    with serve(app) as url:
        yield url


@pytest.fixture
def page(browser_executable):
    """A fresh Chromium page (Chinese locale, like the bank's staff) with bounded timeouts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_executable, headless=True, args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            new_page = context.new_page()
            new_page.set_default_timeout(15_000)
            new_page.set_default_navigation_timeout(30_000)
            yield new_page
            context.close()
        finally:
            browser.close()


@pytest.fixture
def shoot(page, request):
    """``shoot("01-login")`` saves a full-page screenshot to tests/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shoot(step: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{step}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return _shoot


@pytest.fixture
def shoot_page(request):
    """``shoot_page(other_page, step)``: like ``shoot``, for another person's browser page."""

    def _shoot(other_page, step: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-{step}.png"
        other_page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return _shoot
