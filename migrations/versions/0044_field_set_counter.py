"""a configuration counter for field sets: each process keeps the sets a list offers per user

Revision ID: 0044_field_set_counter
Revises: 0042_followup_title_key

Every list of records with custom fields offers the user's field sets (their roles', everyone's,
their own) above its rows; the sets change seldom and were read on every page. Each process now
keeps them while the ``field_set`` counter in ``crm_config_version`` is unchanged
(``backoffice.fields.listing.available_sets``); the triggers below bump it in the writing
transaction, whoever writes (a screen, the CLI, SQL by hand), as migration
``0027_perf_config_version`` does for the other configuration tables.
"""
import sqlalchemy as sa
from alembic import op

revision = "0044_field_set_counter"
down_revision = "0042_followup_title_key"
branch_labels = None
depends_on = None

# Kept here (not imported from the app) so that this revision keeps its meaning.
TABLE = "field_set"


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    fresh = "nextval('crm_config_version_seq')" if postgres else "abs(random())"
    op.execute(sa.text(f"INSERT INTO crm_config_version (name, version) "
                       f"VALUES (:name, {fresh})").bindparams(name=TABLE))
    if postgres:  # the function of 0027
        op.execute(f"CREATE TRIGGER crm_config_version_{TABLE} AFTER INSERT OR UPDATE OR DELETE "
                   f"OR TRUNCATE ON {TABLE} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION crm_bump_config_version()")
    else:  # SQLite: row triggers, one per kind of write
        for event in ("insert", "update", "delete"):
            op.execute(f"CREATE TRIGGER crm_config_version_{TABLE}_{event} AFTER "
                       f"{event.upper()} ON {TABLE} BEGIN UPDATE crm_config_version SET "
                       f"version = abs(random()) WHERE name = '{TABLE}'; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{TABLE} ON {TABLE}")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{TABLE}_{event}")
    op.execute(sa.text("DELETE FROM crm_config_version WHERE name = :name")
               .bindparams(name=TABLE))
