"""merge the feature issues' parallel revisions (custom fields on accounts, imports, segments and
campaigns, churn, service, scale indexes)

Revision ID: 0016_merge_features
Revises: 0010_account_custom_fields, 0011_imports, 0012_segments_campaigns, 0013_churn,
    0014_service, 0015_scale_indexes
"""
revision = "0016_merge_features"
down_revision = ("0010_account_custom_fields", "0011_imports", "0012_segments_campaigns",
                 "0013_churn", "0014_service", "0015_scale_indexes")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
