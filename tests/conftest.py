"""Fixtures: one migrated database per test session, a seeded bank, clients logged in by role.

The database is PostgreSQL when ``CRM_TEST_DATABASE_URL`` is set (CI), otherwise a SQLite file in
a temporary folder. The schema is built by the Alembic migrations, as in production, so every
run also proves that ``flask db upgrade`` works on an empty database.
"""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from tests.support import services
from tests.support.web import login
from tests.support.world import seed_world


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CRM_TEST_REQUIRE_SERVICES=1``) a skip for a missing service is a failure."""
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get("CRM_TEST_REQUIRE_SERVICES") or not report.skipped:
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
    if any(prefix in reason for prefix in services.SERVICE_SKIP_PREFIXES):
        report.outcome = "failed"
        report.longrepr = f"required service missing in CI: {reason}"


def reset_postgresql(url: str) -> None:
    """Empty the test database's public schema so that migrations start from nothing."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


_TEST_KEYS: dict = {}


def make_test_config(database_url: str, **extra) -> dict:
    from models.crypto import KeyRing

    if not _TEST_KEYS:
        _TEST_KEYS.update(KeyRing.generate("test1").to_settings())
    return {
        **_TEST_KEYS,  # field-encryption keys, generated once per test run (no instance file)
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "TESTING": True,
        "WTF_CSRF_ENABLED": True,
        "REDIS_URL": None,
        "SERVER_NAME": None,
        **extra,
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = services.database_url()
    if url:
        reset_postgresql(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'crm-test.sqlite3'}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    os.environ.setdefault("CRM_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.security.seeding import sync_roles
    from config.roles import ROLES

    application = create_app(make_test_config(database_url))
    with application.app_context():
        upgrade(revision="heads")
        sync_roles(application.appbuilder, ROLES)
    return application


@pytest.fixture(scope="session")
def world(app):
    from backoffice.extensions import db

    with app.app_context():
        result = seed_world(db.session, app.appbuilder)
        db.session.remove()
    return result


@pytest.fixture
def db_session(app):
    from backoffice.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def client_as(app, world):
    """``client_as("rm1")``: a test client logged in through the login form as that user."""

    def _make(username: str):
        test_client = app.test_client()
        response = login(test_client, username)
        assert response.status_code == 302, f"login as {username} failed"
        return test_client

    return _make


@pytest.fixture(autouse=True)
def _app_config_restored(request):
    """Each test gets the session app's settings back as they were, whatever it set or popped:
    every ``CRM_*`` setting is declared once (config/settings.py) and read without a call-site
    default, so a test that pops one it had overridden would leave it missing for the next."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    saved = dict(app.config)
    yield
    app.config.clear()
    app.config.update(saved)


@pytest.fixture
def capped(app):
    """Every export is above the cap (0 rows). (No app context is held around the client's
    requests: a shared ``g`` would carry one request's login into the next client's.)"""
    app.config["CRM_EXPORT_MAX_ROWS"] = 0
