"""segments (tiers, segments, need detectors), memberships, counts, tier history; campaigns

Seeds the default tier rules (private banking >= 6,000,000 CNY financial assets, wealth >=
500,000, VIP >= 50,000, mass) and the need detectors of the issue, as editable rows. Existing
customers keep their tier until the next refresh.

Revision ID: 0012_segments_campaigns
Revises: 0009_custom_field_indexes
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012_segments_campaigns"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _cond(field, op_, value):
    return {"field": field, "op": op_, "value": value}


def _all(*items):
    return {"op": "and", "items": list(items)}


DEFAULT_RULES = [
    # code, name, kind, tier, priority, rule, description, offer categories
    ("tier_private_banking", "私人银行 Private banking", "tier", "private_banking", 10,
     _all(_cond("metric.aum", "gte", "6000000")), "金融资产 ≥ 600 万元", []),
    ("tier_wealth", "财富 Wealth", "tier", "wealth", 20,
     _all(_cond("metric.aum", "gte", "500000")), "金融资产 ≥ 50 万元", []),
    ("tier_vip", "贵宾 VIP", "tier", "vip", 30,
     _all(_cond("metric.aum", "gte", "50000")), "金融资产 ≥ 5 万元", []),
    ("tier_mass", "大众 Mass", "tier", "mass", 1000, _all(), "其余客户", []),
    ("need_wealth_management", "理财需求 Wealth management need", "need", None, 100,
     _all(_cond("metric.inquiries_30d", "gte", "3")),
     "30 天内产品咨询 ≥ 3 次", ["wealth", "fund"]),
    ("need_idle_deposit", "闲置存款 Idle deposits", "need", None, 100,
     _all(_cond("metric.deposit_balance", "gt", "200000"),
          _cond("metric.days_since_transaction", "gte", "90")),
     "活期存款 > 20 万元且 90 天无交易", ["time_deposit", "wealth"]),
    ("need_credit_card", "信用卡需求 Credit card need", "need", None, 100,
     _all(_cond("metric.salary_count_90d", "gte", "3"),
          _cond("metric.credit_cards_held", "eq", "0")),
     "90 天内 ≥ 3 次工资入账且无信用卡", ["credit_card"]),
    ("need_pension", "养老规划 Pension planning", "need", None, 100,
     _all(_cond("metric.age", "gte", "55")), "年龄 ≥ 55 岁", ["insurance", "time_deposit"]),
    ("seg_corporate", "对公客户 Corporate customers", "segment", None, 100,
     _all(_cond("customer.customer_type", "eq", "corporate")), "企业客户", []),
    ("seg_multi_product", "多产品客户 Multi-product", "segment", None, 100,
     _all(_cond("metric.products_held", "gte", "3")), "持有 ≥ 3 种产品", []),
]


def upgrade():
    segment = op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("rule", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("offer_categories", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('tier','segment','need')", name="ck_segment_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_segment_kind_priority", "segment", ["kind", "priority"], unique=False)
    op.create_table(
        "segment_membership",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["segment_id"], ["segment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("segment_id", "customer_id"),
    )
    op.create_index("ix_segment_membership_customer", "segment_membership", ["customer_id"],
                    unique=False)
    op.create_table(
        "segment_count",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["segment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("segment_id", "day"),
    )
    op.create_table(
        "tier_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("old_tier", sa.String(length=20), nullable=True),
        sa.Column("new_tier", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tier_change_customer_time", "tier_change", ["customer_id", "changed_at"],
                    unique=False)
    op.create_index("ix_tier_change_time", "tier_change", ["changed_at"], unique=False)
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("target_segment_ids", JSON, nullable=False),
        sa.Column("target_tiers", JSON, nullable=False),
        sa.Column("target_rule", JSON, nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("start_on", sa.Date(), nullable=True),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("message_template", sa.Text(), nullable=True),
        sa.Column("offer", sa.String(length=255), nullable=True),
        sa.Column("control_share", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("control_seed", sa.Integer(), nullable=False),
        sa.Column("gate_report", JSON, nullable=True),
        sa.Column("review_note", sa.String(length=500), nullable=True),
        sa.Column("custom_fields", JSON, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("launched_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("control_share >= 0 AND control_share < 1",
                           name="ck_campaign_control_share"),
        sa.CheckConstraint("status IN ('draft','submitted','approved','running','closed')",
                           name="ck_campaign_status"),
        sa.ForeignKeyConstraint(["approved_by_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_status", "campaign", ["status"], unique=False)
    op.create_index("ix_campaign_custom_fields", "campaign", ["custom_fields"], unique=False,
                    postgresql_using="gin")
    op.create_table(
        "campaign_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("target_group", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_id", sa.Integer(), nullable=True),
        sa.Column("contacted_at", sa.DateTime(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.Column("converted_at", sa.DateTime(), nullable=True),
        sa.Column("converted_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("outcome_source", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("target_group IN ('target','control')",
                           name="ck_campaign_target_group"),
        sa.ForeignKeyConstraint(["assignee_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["follow_up_id"], ["follow_up.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_target_customer"),
    )
    op.create_index("ix_campaign_target_customer", "campaign_target", ["customer_id"],
                    unique=False)
    op.create_index("ix_campaign_target_assignee", "campaign_target", ["assignee_id"],
                    unique=False)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.bulk_insert(segment, [
        {"code": code, "name": name, "kind": kind, "tier": tier, "priority": priority,
         "rule": rule, "description": description, "offer_categories": offers,
         "active": True, "created_at": now, "updated_at": now}
        for code, name, kind, tier, priority, rule, description, offers in DEFAULT_RULES])


def downgrade():
    op.drop_index("ix_campaign_target_assignee", table_name="campaign_target")
    op.drop_index("ix_campaign_target_customer", table_name="campaign_target")
    op.drop_table("campaign_target")
    op.drop_index("ix_campaign_custom_fields", table_name="campaign", postgresql_using="gin")
    op.drop_index("ix_campaign_status", table_name="campaign")
    op.drop_table("campaign")
    op.drop_index("ix_tier_change_time", table_name="tier_change")
    op.drop_index("ix_tier_change_customer_time", table_name="tier_change")
    op.drop_table("tier_change")
    op.drop_table("segment_count")
    op.drop_index("ix_segment_membership_customer", table_name="segment_membership")
    op.drop_table("segment_membership")
    op.drop_index("ix_segment_kind_priority", table_name="segment")
    op.drop_table("segment")
