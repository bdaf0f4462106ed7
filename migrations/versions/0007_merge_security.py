"""merge the security issue's parallel revisions (encryption, log, login policy, review, tiers)

Revision ID: 0007_merge_security
Revises: 0002_field_encryption, 0003_operation_log, 0004_login_policy, 0005_change_requests,
    0006_customer_tiers
"""
revision = "0007_merge_security"
down_revision = ("0002_field_encryption", "0003_operation_log", "0004_login_policy",
                 "0005_change_requests", "0006_customer_tiers")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
