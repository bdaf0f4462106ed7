"""GIN indexes on the custom-field JSON columns (customer, interaction)

Revision ID: 0009_custom_field_indexes
Revises: 0008_custom_fields
"""
from alembic import op

revision = "0009_custom_field_indexes"
down_revision = "0008_custom_fields"
branch_labels = None
depends_on = None

INDEXES = (("ix_customer_custom_fields", "customer"),
           ("ix_interaction_custom_fields", "interaction"))


def upgrade():
    for name, table in INDEXES:
        op.create_index(name, table, ["custom_fields"], unique=False, postgresql_using="gin")


def downgrade():
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
