"""Steps the browser workflows share: signing in, a second person's browser, an RQ worker.

The worker is ``flask crm worker --burst`` in a process of its own, configured only through the
environment as in production (database, Redis, queue and the suite's field-encryption keys), so
a job the browser started runs in another process's forked work horse while the page polls.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.web import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("form input[type=submit], form button[type=submit]").first.click()
    assert "/login" not in page.url, f"login as {username} failed"


def new_page(page, base: str, username: str):
    """A second browser context (another person at another desk), signed in."""
    context = page.context.browser.new_context(locale="zh-CN",
                                               viewport={"width": 1280, "height": 900})
    other = context.new_page()
    other.set_default_timeout(15_000)
    sign_in(other, base, username)
    return context, other


def worker_environment(config) -> dict:
    """The environment of a production worker for the app configured by ``config``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not key.startswith("CRM_")}
    env.update(
        CRM_ENV="testing",
        CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=config["REDIS_URL"],
        SECRET_KEY="worker-secret",
        # JSON, as an operator would export them: the settings loader parses CRM_* values.
        **{name: json.dumps(config[name]) for name in (
            "CRM_QUEUE_NAME", "CRM_ENCRYPTION_KEYS", "CRM_PRIMARY_KEY_ID",
            "CRM_BLIND_INDEX_KEY")},
    )
    if config.get("CRM_AUDIT_CHAIN_KEY"):  # the log rows it writes must verify under the app's key
        env["CRM_AUDIT_CHAIN_KEY"] = config["CRM_AUDIT_CHAIN_KEY"]
    return env


def run_burst_worker(config, timeout: int = 180) -> str:
    """Work the queue until it is empty in a worker process of its own; returns its output."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker", "--burst"],
        cwd=ROOT, env=worker_environment(config), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = worker.communicate(timeout=timeout)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output[-3000:]
    return output
