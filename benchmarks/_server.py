"""What the benchmarks that serve the app share: a scratch app, gunicorn, staff logins, CPU.

Every benchmark that requests pages needs the same few steps, and each used to carry its own
copy: build an app on a scratch database (or start gunicorn on a loaded one and wait until it
answers), log a member of staff in through the login form with its CSRF token (accepting the
confidentiality agreement the first time, as a person would), and, for the CPU figures, read a
process's user + system time from ``/proc``. A difference between two copies would be a
difference between two benchmarks' figures that no reader could see. (This file starts with
``_`` so ``make bench`` does not run it as a benchmark.)
"""
from __future__ import annotations

import http.client
import http.cookies
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

DEMO_PASSWORD = "Demo-Passw0rd!2026"  # the staff of a demo bank (``flask crm demo``)
BENCH_PASSWORD = "Bench-Passw0rd!2026"  # the staff of a bank a benchmark loads itself
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
TICK = os.sysconf("SC_CLK_TCK")
START_SECONDS = 120  # how long gunicorn may take to answer its first request


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    return (match.group(1) or match.group(2)) if match else ""


# --- an app in this process (Flask's test client) --------------------------------------------


def scratch_app(database_url: str):
    """An app on an emptied scratch database, migrated and with the roles seeded (a database
    holding customers no benchmark loaded is refused)."""
    os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.security.seeding import sync_roles
    from benchmarks._safety import claim, reset_public_schema
    from config.roles import ROLES
    from tests.conftest import make_test_config

    if database_url.startswith("postgresql"):
        reset_public_schema(database_url)
    else:
        claim(database_url)
    app = create_app(make_test_config(database_url))
    with app.app_context():
        upgrade(revision="heads")
        sync_roles(app.appbuilder, ROLES)
        db.session.remove()
    return app


def load_demo_bank(app, customers: int, password: str = BENCH_PASSWORD) -> list[int]:
    """The demo bank with ``customers`` customers, its staff past the agreement; their ids."""
    from sqlalchemy import select, update

    from backoffice.demo import load_demo
    from backoffice.extensions import db
    from models import Customer, Staff
    from models.base import utcnow

    with app.app_context():
        load_demo(db.session, customers=customers, seed=7, tx_per_month=2, password=password)
        db.session.execute(update(Staff).values(confidentiality_accepted_at=utcnow()))
        db.session.commit()
        ids = db.session.scalars(select(Customer.id)).all()
        db.session.remove()
    return ids


def login_test_client(app, username: str, password: str):
    """A test client logged in as ``username`` through the login form."""
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    response = client.post("/login/", data={"username": username, "password": password,
                                            "csrf_token": csrf_token(page)})
    if response.status_code != 302:
        raise SystemExit(f"benchmark login of {username} failed: {response.status_code}")
    page = client.get("/agreement/")
    if page.status_code == 200 and b'name="accept"' in page.data:
        client.post("/agreement/", data={"accept": "yes",
                                         "csrf_token": csrf_token(page.get_data(as_text=True))})
    return client


# --- a server over HTTP (gunicorn) ---------------------------------------------------------


class Client:
    """One staff session over HTTP: keep-alive connection, cookie, CSRF-aware form posts."""

    def __init__(self, base: str):
        parsed = urllib.parse.urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.cookies: dict[str, str] = {}
        self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self.conn

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                conn = self._connection()
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return response.status, response.headers.get("Location"), payload

    def token(self, path: str) -> str:
        _status, _loc, page = self.request("GET", path)
        return csrf_token(page.decode("utf-8", "replace"))

    def login(self, username: str, password: str) -> None:
        status, _loc, _ = self.request("POST", "/login/", {
            "username": username, "password": password, "csrf_token": self.token("/login/")})
        if status != 302:
            raise RuntimeError(f"login of {username} answered {status}")
        status, _loc, page = self.request("GET", "/agreement/")
        if status == 200 and b'name="accept"' in page:
            self.request("POST", "/agreement/", {"accept": "yes",
                                                 "csrf_token": self.token("/agreement/")})


def start_gunicorn(checkout: Path, database_url: str, *, workers: int, app_name: str,
                   instance_path: str | None = None, name: str = "gunicorn"
                   ) -> tuple[subprocess.Popen, str]:
    """gunicorn serving ``checkout`` on a free local port, once it answers the login page:
    (the process, its base URL). Its PostgreSQL connections carry ``app_name``, so their
    backends can be found."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "PGAPPNAME": app_name}
    if instance_path:
        env["CRM_INSTANCE_PATH"] = instance_path
    server = subprocess.Popen(
        [str(checkout / ".venv/bin/gunicorn"), "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning", "wsgi:app"],
        cwd=checkout, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_SECONDS
    while time.time() < deadline:
        try:
            if Client(base).request("GET", "/login/")[0] == 200:
                return server, base
        except OSError:
            pass
        time.sleep(0.5)
    stop(server)
    raise SystemExit(f"{name} did not answer within {START_SECONDS} s")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


# --- CPU from /proc ------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc): gunicorn's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK
