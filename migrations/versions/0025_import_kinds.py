"""import kinds for a bank's first day: branches, staff and products; one-time set-password links

Revision ID: 0025_import_kinds
Revises: 0024_import_interrupted

A fresh installation has no branch, no staff and no product, and a customer file cannot be
imported into it: these kinds let the first day be done by spreadsheet through the same pipeline
(mapping, dry run, error report, approval, revert). Staff files carry no passwords, so each new
user gets a one-time set-password link (``set_password_token``: the token's hash only) and staff
get the work mobile their file gives. The downgrade removes the batches and templates of the new
kinds (the branches, staff and products they created stay).
"""
import sqlalchemy as sa
from alembic import op

revision = "0025_import_kinds"
down_revision = "0024_import_interrupted"
branch_labels = None
depends_on = None

KINDS_BEFORE = ("customers", "accounts", "transactions", "interactions")
KINDS_AFTER = KINDS_BEFORE + ("branches", "staff", "products")


def _check(kinds) -> str:
    return f"kind IN ({','.join(repr(k) for k in kinds)})"


def _kinds(kinds) -> None:
    for table in ("import_batch", "import_template"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"ck_{table}_kind", type_="check")
            batch.create_check_constraint(f"ck_{table}_kind", _check(kinds))


def upgrade():
    _kinds(KINDS_AFTER)
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mobile", sa.String(length=20), nullable=True))
    op.create_table(
        "set_password_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("sealed_link", sa.LargeBinary(), nullable=True),
        sa.Column("emailed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batch.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_set_password_token_user_id", "set_password_token", ["user_id"])
    op.create_index("ix_set_password_token_batch_id", "set_password_token", ["batch_id"])


def downgrade():
    op.drop_index("ix_set_password_token_batch_id", table_name="set_password_token")
    op.drop_index("ix_set_password_token_user_id", table_name="set_password_token")
    op.drop_table("set_password_token")
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("mobile")
    new = [k for k in KINDS_AFTER if k not in KINDS_BEFORE]
    for table in ("import_template", "import_batch"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE kind IN "
                           f"({','.join(repr(k) for k in new)})"))
    _kinds(KINDS_BEFORE)
