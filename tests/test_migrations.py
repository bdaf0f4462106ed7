"""The Alembic migrations build exactly the schema the models describe.

The session's database was built by ``flask db upgrade`` (see conftest); comparing it with the
models' metadata must find nothing for autogenerate to emit. A model change without a migration
fails here on SQLite locally and on PostgreSQL in CI.
"""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backoffice.extensions import db
from models.base import autogenerate_includes


def test_no_pending_autogenerate_diff(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": autogenerate_includes})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_at_head(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate  # noqa: F401 - ensures the extension is loaded

    with app.app_context(), db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
        config = app.extensions["migrate"].migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
    assert current == heads
    assert len(heads) == 1, f"several migration heads need a merge revision: {heads}"


def test_runtime_custom_field_indexes_are_left_to_the_field_screens():
    """Autogenerate must not drop the indexes the field screens make, nor miss model indexes."""
    assert not autogenerate_includes(None, "ix_cf_customer_points_integer", "index", True, None)
    assert not autogenerate_includes(None, "ux_cf_customer_code", "index", True, None)
    assert autogenerate_includes(None, "ix_customer_birth_date", "index", True, None)
    assert autogenerate_includes(None, "ix_cf_customer_points_integer", "table", True, None)
