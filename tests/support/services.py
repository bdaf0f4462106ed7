"""Where the real services are, and how a test that needs one skips.

CI points the suite at PostgreSQL and Redis through ``CRM_TEST_DATABASE_URL`` and
``CRM_TEST_REDIS_URL`` and sets ``CRM_TEST_REQUIRE_SERVICES=1``, which turns every skip for a
missing service into a failure (``tests/conftest.py``). Skip reasons start with ``needs Redis:``
or ``needs PostgreSQL:`` so that both people and CI can tell them apart from other skips.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

SERVICE_SKIP_PREFIXES = ("needs Redis:", "needs PostgreSQL:")


def redis_url() -> str:
    return os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(redis_url(), socket_connect_timeout=1).ping())
    except Exception:
        return False


def require_redis() -> str:
    """The Redis URL, or skip the test with a reason CI recognises."""
    if not redis_available():
        pytest.skip(f"needs Redis: nothing answers at {redis_url()}")
    return redis_url()


def database_url() -> str | None:
    """The PostgreSQL URL the suite runs against, if any."""
    return os.environ.get("CRM_TEST_DATABASE_URL") or None


def require_postgresql(url: str | None = None) -> str:
    url = url or database_url()
    if not url or not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: set CRM_TEST_DATABASE_URL to a postgresql:// URL")
    return url


@contextlib.contextmanager
def migration_app(tmp_path, sqlite: bool = False):
    """A Flask app on an empty database for a migration test: a scratch schema on the test
    PostgreSQL when one is configured (else, or with ``sqlite``, a SQLite file), not yet
    migrated. After the block its sessions and engine are closed and the schema dropped."""
    from backoffice import create_app
    from backoffice.extensions import db
    from tests.conftest import make_test_config

    url, cleanup = _scratch_database(tmp_path, sqlite)
    app = create_app(make_test_config(url))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        cleanup()


def _scratch_database(tmp_path, sqlite: bool) -> tuple[str, Callable[[], None]]:
    url = database_url()
    if sqlite or not url:
        return f"sqlite:///{tmp_path / 'migrate.sqlite3'}", lambda: None
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def cleanup():
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()

    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}", cleanup


def migration_module(revision: str):
    """The module of the migration ``revision`` (``migrations/versions`` is not a package),
    so that a test uses the migration's own lists rather than copies of them."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / f"{revision}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
