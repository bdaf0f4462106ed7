"""custom fields may count toward a customer's financial assets and annual volume

Revision ID: 0026_field_value_roles
Revises: 0025_import_kinds

Banks often import balances as custom fields before their accounts are loaded: ``value_roles``
lets an admin say which number fields of a customer count toward financial assets and annual
volume, so that tiers, the churn value band and the rule builder value those customers by them.
Existing fields count toward nothing (an empty list), as before.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026_field_value_roles"
down_revision = "0025_import_kinds"
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("custom_field_definition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_roles", json_type, nullable=False,
                                      server_default=sa.text("'[]'")))
    with op.batch_alter_table("custom_field_definition", schema=None) as batch_op:
        batch_op.alter_column("value_roles", server_default=None)


def downgrade():
    with op.batch_alter_table("custom_field_definition", schema=None) as batch_op:
        batch_op.drop_column("value_roles")
