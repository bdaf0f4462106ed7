"""custom field definitions and field sets (zero-code field builder, issue 4)

Revision ID: 0008_custom_fields
Revises: 0007_merge_security

New tables only: the values themselves already live in the ``custom_fields`` JSON column of
customer and interaction (0001). Per-field unique expression indexes on PostgreSQL are created and
dropped at run time by ``backoffice.fields.service`` when an admin makes a field unique.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_custom_fields"
down_revision = "0007_merge_security"
branch_labels = None
depends_on = None

ENTITIES = "'customer','interaction','campaign','account'"
TYPES = ("'text','long_text','integer','decimal','money','date','datetime','boolean','choice',"
         "'multi_choice','email','mobile','prc_id','url'")


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "custom_field_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("help_text", sa.String(length=500), nullable=True),
        sa.Column("section", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("field_type", sa.String(length=20), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("default_value", _json(), nullable=True),
        sa.Column("min_value", sa.String(length=40), nullable=True),
        sa.Column("max_value", sa.String(length=40), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("regex", sa.String(length=500), nullable=True),
        sa.Column("regex_message", sa.String(length=255), nullable=True),
        sa.Column("unique", sa.Boolean(), nullable=False),
        sa.Column("choices", _json(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("visible_roles", _json(), nullable=False),
        sa.Column("editable_roles", _json(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"entity IN ({ENTITIES})", name="ck_custom_field_entity"),
        sa.CheckConstraint(f"field_type IN ({TYPES})", name="ck_custom_field_type"),
        sa.CheckConstraint("status IN ('active','archived')", name="ck_custom_field_status"),
        sa.CheckConstraint("max_length IS NULL OR max_length > 0",
                           name="ck_custom_field_max_length"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entity", "key", name="uq_custom_field_entity_key"),
    )
    op.create_index("ix_custom_field_entity_status", "custom_field_definition",
                    ["entity", "status", "section", "position"], unique=False)
    op.create_table(
        "field_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("columns", _json(), nullable=False),
        sa.Column("filters", _json(), nullable=False),
        sa.Column("sort_column", sa.String(length=64), nullable=True),
        sa.Column("sort_direction", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"entity IN ({ENTITIES})", name="ck_field_set_entity"),
        sa.CheckConstraint("role_id IS NULL OR owner_id IS NULL",
                           name="ck_field_set_role_or_owner"),
        sa.CheckConstraint("sort_direction IN ('asc','desc')", name="ck_field_set_sort_direction"),
        sa.CheckConstraint("status IN ('active','archived')", name="ck_field_set_status"),
        sa.ForeignKeyConstraint(["owner_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["ab_role.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_set_entity_owner", "field_set", ["entity", "owner_id"],
                    unique=False)
    op.create_index("ix_field_set_entity_role", "field_set", ["entity", "role_id"], unique=False)


def downgrade():
    op.drop_index("ix_field_set_entity_role", table_name="field_set")
    op.drop_index("ix_field_set_entity_owner", table_name="field_set")
    op.drop_table("field_set")
    op.drop_index("ix_custom_field_entity_status", table_name="custom_field_definition")
    op.drop_table("custom_field_definition")
