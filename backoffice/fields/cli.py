"""`flask crm fields sync-indexes`: the custom fields' database indexes, as the definitions ask.

The admin screens create and drop a field's unique and range expression indexes (PostgreSQL) when
a definition is saved, archived, restored or converted. Definitions written another way (the
demo or benchmark loaders, a restored dump, a database upgraded from a version without range
indexes), or an index build that failed and was only logged, are put right by this command: it
is idempotent and safe to run at any time (plain ``CREATE INDEX``: it blocks writes to the table
while an index builds, so run it outside busy hours on large tables).
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

fields_group = AppGroup("fields", help="Custom fields (自定义字段).")


@fields_group.command("sync-indexes")
def sync_indexes_command():
    """Create the indexes every custom field should have and drop those it should not."""
    from backoffice.extensions import db
    from backoffice.fields import service
    from backoffice.fields.registry import ENTITY_TABLES, field_catalog

    if db.session.get_bind().dialect.name != "postgresql":
        click.echo("SQLite: uniqueness is checked by the application and there are no "
                   "expression indexes to build.")
        return
    synced = 0
    for entity in ENTITY_TABLES:
        for spec in field_catalog(entity, include_archived=True, session=db.session):
            synced += bool(service.sync_indexes(spec, db.session))
    db.session.commit()
    click.echo(f"{synced} custom field(s) checked; their unique and range indexes are in place.")
