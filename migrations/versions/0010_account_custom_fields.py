"""Custom fields on accounts: the ``custom_fields`` JSON column (JSONB + GIN on PostgreSQL)

Revision ID: 0010_account_custom_fields
Revises: 0009_custom_field_indexes

Existing accounts get an empty document through the server default, so the NOT NULL column can
be added to a table that already holds rows.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_account_custom_fields"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("custom_fields", JSON_TYPE, nullable=False,
                                   server_default=sa.text("'{}'")))
    op.create_index("ix_account_custom_fields", "account", ["custom_fields"], unique=False,
                    postgresql_using="gin")


def downgrade():
    op.drop_index("ix_account_custom_fields", table_name="account")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("custom_fields")
