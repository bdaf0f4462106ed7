"""configuration counters bumped by triggers: per-process caches of configuration stay correct

Revision ID: 0027_perf_config_version
Revises: 0026_field_value_roles

Each process caches what it derives from small configuration tables (the custom-field catalogue,
branch and product lists of search forms, the rule catalogue, the roles' permissions) and checks ``crm_config_version``
once per request. A trigger per table bumps the table's counter in the writing transaction, so
every writer (screens, imports' Core inserts, the CLI, hand-written SQL) invalidates the caches of
every process when it commits.
"""
import sqlalchemy as sa
from alembic import op

revision = "0027_perf_config_version"
down_revision = "0026_field_value_roles"
branch_labels = None
depends_on = None

# Kept here (not imported from models) so that this revision keeps its meaning.
TABLES = ("custom_field_definition", "branch", "product", "service_flag_type",
          "greeting_occasion", "ab_permission_view_role", "ab_permission_view", "ab_permission",
          "ab_view_menu")

# A new value is never one seen before, even after a rollback (a sequence does not roll back;
# SQLite draws a random 63-bit number): a cache built inside a transaction that rolled back can
# never match the counter of a later, different change.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_bump_config_version() RETURNS trigger AS $$
BEGIN
    UPDATE crm_config_version SET version = nextval('crm_config_version_seq')
        WHERE name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade():
    op.create_table(
        "crm_config_version",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE SEQUENCE crm_config_version_seq")
    fresh = "nextval('crm_config_version_seq')" if postgres else "abs(random())"
    for name in TABLES:
        op.execute(sa.text(f"INSERT INTO crm_config_version (name, version) "
                           f"VALUES (:name, {fresh})").bindparams(name=name))
    if postgres:
        op.execute(PG_FUNCTION)
        for name in TABLES:
            op.execute(f"CREATE TRIGGER crm_config_version_{name} AFTER INSERT OR UPDATE OR "
                       f"DELETE OR TRUNCATE ON {name} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION crm_bump_config_version()")
    else:  # SQLite: row triggers, one per kind of write
        for name in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"CREATE TRIGGER crm_config_version_{name}_{event} AFTER "
                           f"{event.upper()} ON {name} BEGIN UPDATE crm_config_version SET "
                           f"version = abs(random()) WHERE name = '{name}'; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{name} ON {name}")
        op.execute("DROP FUNCTION IF EXISTS crm_bump_config_version()")
        op.execute("DROP SEQUENCE IF EXISTS crm_config_version_seq")
    else:
        for name in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{name}_{event}")
    op.drop_table("crm_config_version")
