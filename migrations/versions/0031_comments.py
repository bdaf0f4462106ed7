"""comments with @mentions on customers, follow-up tasks, change requests and campaigns

Revision ID: 0031_comments
Revises: 0028_stored_messages

A new table only: existing data is untouched.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031_comments"
down_revision = "0028_stored_messages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentioned_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("edited_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comment_record", "comment", ["entity", "entity_id", "id"])
    op.create_index("ix_comment_customer", "comment", ["customer_id"])


def downgrade():
    op.drop_index("ix_comment_customer", table_name="comment")
    op.drop_index("ix_comment_record", table_name="comment")
    op.drop_table("comment")
