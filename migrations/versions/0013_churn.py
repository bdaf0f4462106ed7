"""Churn early warning: model versions, latest scores, rule signals and settings

Revision ID: 0013_churn
Revises: 0009_custom_field_indexes
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_churn"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# The rule signals the issue names, with their default thresholds (staff change them on screen).
DEFAULT_RULES = (
    ("frequency_drop", 0.5, 90, None),
    ("net_outflow", 0.3, 60, "high"),
    ("no_response", 3.0, 180, None),
    ("complaint", 1.0, 30, None),
    ("satisfaction_drop", 2.0, 90, None),
)


def upgrade():
    op.create_table(
        "churn_model",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, unique=True),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("algorithm", sa.String(200), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("baseline_metrics", JSON, nullable=False),
        sa.Column("training_config", JSON, nullable=False),
        sa.Column("reference_scores", JSON, nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_bytes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.Column("activated_at", sa.DateTime()),
        sa.Column("activated_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
    )
    op.create_index("ix_churn_model_active", "churn_model", ["active"])
    op.create_table(
        "churn_score",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_id", sa.Integer(),
                  sa.ForeignKey("churn_model.id", ondelete="SET NULL")),
        sa.Column("probability", sa.Float()),
        sa.Column("previous_probability", sa.Float()),
        sa.Column("risk_band", sa.String(8), nullable=False),
        sa.Column("value_band", sa.String(8), nullable=False),
        sa.Column("warning_tier", sa.String(2), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("signals", JSON, nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.Column("previous_scored_at", sa.DateTime()),
        sa.CheckConstraint("risk_band IN ('high','medium','low')", name="ck_churn_score_risk_band"),
        sa.CheckConstraint("value_band IN ('high','medium','low')",
                           name="ck_churn_score_value_band"),
        sa.CheckConstraint("warning_tier IN ('P1','P2','P3','P4')", name="ck_churn_score_tier"),
        sa.CheckConstraint("probability IS NULL OR (probability >= 0 AND probability <= 1)",
                           name="ck_churn_score_probability"),
    )
    op.create_index("ix_churn_score_customer", "churn_score", ["customer_id"], unique=True)
    op.create_index("ix_churn_score_model_id", "churn_score", ["model_id"])
    op.create_index("ix_churn_score_tier_probability", "churn_score",
                    ["warning_tier", "probability"])
    rules = op.create_table(
        "churn_signal_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("min_value_band", sa.String(8)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "churn_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", JSON, nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    op.bulk_insert(rules, [
        {"code": code, "enabled": True, "threshold": threshold, "window_days": window,
         "min_value_band": band, "updated_at": now}
        for code, threshold, window, band in DEFAULT_RULES])


def downgrade():
    op.drop_table("churn_setting")
    op.drop_table("churn_signal_rule")
    op.drop_index("ix_churn_score_tier_probability", table_name="churn_score")
    op.drop_index("ix_churn_score_model_id", table_name="churn_score")
    op.drop_index("ix_churn_score_customer", table_name="churn_score")
    op.drop_table("churn_score")
    op.drop_index("ix_churn_model_active", table_name="churn_model")
    op.drop_table("churn_model")
