"""relationship maintenance and service: consent, greetings, complaints, loans, service flags

Existing marketing-consent booleans become Consent rows (purpose marketing, source
"migration"), and the standard occasions with their templates are created, so that an upgraded
bank greets customers without configuring anything first.

Revision ID: 0014_service
Revises: 0009_custom_field_indexes
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0014_service"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

Money = sa.Numeric(18, 2)
CHANNELS = ("sms", "email", "phone", "wechat")


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def upgrade():
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(12), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.Column("withdrawn_at", sa.DateTime()),
        sa.CheckConstraint("channel IN ('sms','email','phone','wechat')",
                           name="ck_consent_channel"),
        sa.CheckConstraint("purpose IN ('marketing','greeting','service')",
                           name="ck_consent_purpose"),
    )
    op.create_index("ix_consent_lookup", "consent",
                    ["customer_id", "channel", "purpose", "withdrawn_at"])

    op.create_table(
        "greeting_occasion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("field_key", sa.String(64)),
        sa.Column("lunar_month", sa.Integer()),
        sa.Column("lunar_day", sa.Integer()),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("channel_order", sa.String(60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('birthday','anniversary','custom_date','lunar_festival')",
                           name="ck_greeting_occasion_kind"),
        sa.CheckConstraint("lead_days BETWEEN 0 AND 60", name="ck_greeting_occasion_lead"),
    )
    op.create_table(
        "greeting_template",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("occasion_id", sa.Integer(),
                  sa.ForeignKey("greeting_occasion.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tier", sa.String(20)),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("channel", sa.String(10)),
        sa.Column("subject", sa.String(200)),
        sa.Column("body", sa.Text(), nullable=False),
        sa.UniqueConstraint("occasion_id", "tier", "language", "channel",
                            name="uq_greeting_template_key"),
    )
    op.create_table(
        "greeting_offer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("occasion_id", sa.Integer(),
                  sa.ForeignKey("greeting_occasion.id", ondelete="CASCADE")),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("code_prefix", sa.String(20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.CheckConstraint("valid_from <= valid_until", name="ck_greeting_offer_validity"),
    )
    op.create_index("ix_greeting_offer_tier_valid", "greeting_offer",
                    ["tier", "valid_from", "valid_until"])

    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("escalated_to_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_follow_up_escalated_to_id_ab_user", "ab_user",
                                    ["escalated_to_id"], ["id"], ondelete="SET NULL")

    op.create_table(
        "greeting_dispatch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("occasion_id", sa.Integer(),
                  sa.ForeignKey("greeting_occasion.id", ondelete="CASCADE"), nullable=False),
        sa.Column("occasion_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("offer_id", sa.Integer(),
                  sa.ForeignKey("greeting_offer.id", ondelete="SET NULL")),
        sa.Column("offer_code", sa.String(40)),
        sa.Column("subject", sa.String(200)),
        sa.Column("body", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("interaction_id", sa.Integer(),
                  sa.ForeignKey("interaction.id", ondelete="SET NULL")),
        sa.Column("follow_up_id", sa.Integer(),
                  sa.ForeignKey("follow_up.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
        sa.UniqueConstraint("customer_id", "occasion_id", "occasion_date", "channel",
                            name="uq_greeting_dispatch_key"),
        sa.CheckConstraint(
            "status IN ('pending','sending','sent','deferred','retry','failed','cancelled')",
            name="ck_greeting_dispatch_status"),
    )
    op.create_index("ix_greeting_dispatch_work", "greeting_dispatch",
                    ["status", "next_attempt_at"])
    op.create_index("ix_greeting_dispatch_customer_occasion", "greeting_dispatch",
                    ["customer_id", "occasion_id", "occasion_date"])

    op.create_table(
        "loan_application",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("application_no", sa.String(30), nullable=False, unique=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("product.id", ondelete="SET NULL")),
        sa.Column("amount", Money, nullable=False),
        sa.Column("term_months", sa.Integer()),
        sa.Column("purpose", sa.String(200)),
        sa.Column("status", sa.String(15), nullable=False),
        sa.Column("officer_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.Column("notes", sa.Text()),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("disbursed_at", sa.DateTime()),
        sa.CheckConstraint(
            "status IN ('submitted','under_review','approved','rejected','disbursed')",
            name="ck_loan_application_status"),
        sa.CheckConstraint("amount > 0", name="ck_loan_application_amount"),
    )
    op.create_index("ix_loan_application_customer_status", "loan_application",
                    ["customer_id", "status"])

    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("interaction_id", sa.Integer(),
                  sa.ForeignKey("interaction.id", ondelete="SET NULL")),
        sa.Column("follow_up_id", sa.Integer(),
                  sa.ForeignKey("follow_up.id", ondelete="SET NULL")),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.Column("opened_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.Column("resolution", sa.Text()),
        sa.Column("recheck_satisfaction", sa.Integer()),
        sa.Column("recheck_notes", sa.Text()),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_at", sa.DateTime()),
        sa.Column("resolved_at", sa.DateTime()),
        sa.Column("rechecked_at", sa.DateTime()),
        sa.CheckConstraint("status IN ('open','assigned','resolved','rechecked')",
                           name="ck_complaint_status"),
        sa.CheckConstraint(
            "recheck_satisfaction IS NULL OR recheck_satisfaction BETWEEN 1 AND 5",
            name="ck_complaint_recheck_satisfaction"),
    )
    op.create_index("ix_complaint_customer_opened", "complaint", ["customer_id", "opened_at"])
    op.create_index("ix_complaint_status_opened", "complaint", ["status", "opened_at"])

    op.create_table(
        "service_flag_type",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(30), nullable=False, unique=True),
        sa.Column("label_zh", sa.String(60), nullable=False),
        sa.Column("label_en", sa.String(60)),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "customer_service_flag",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", ondelete="CASCADE"), nullable=False),
        sa.Column("flag_type_id", sa.Integer(),
                  sa.ForeignKey("service_flag_type.id", ondelete="CASCADE"), nullable=False),
        sa.Column("note", sa.String(255)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_customer_service_flag_customer", "customer_service_flag",
                    ["customer_id", "flag_type_id"], unique=True)

    _migrate_consent_booleans()
    _seed_occasions()


def _migrate_consent_booleans():
    """Each true ``consent_<channel>`` becomes an open marketing grant, set-based."""
    now = _now()
    for channel in CHANNELS:
        op.get_bind().execute(
            sa.text(
                "INSERT INTO consent (customer_id, channel, purpose, granted, source, "
                "recorded_at) SELECT id, :channel, 'marketing', :yes, 'migration', :now "
                f"FROM customer WHERE consent_{channel} = :yes"
            ),
            {"channel": channel, "now": now, "yes": True},
        )


OCCASIONS = (
    # code, name, kind, lunar month/day, lead days, channel order
    ("birthday", "生日", "birthday", None, None, 0, "phone,email,sms"),
    ("anniversary", "开户周年", "anniversary", None, None, 0, "email,sms"),
    ("spring_festival", "春节", "lunar_festival", 1, 1, 1, "email,sms"),
    ("mid_autumn", "中秋节", "lunar_festival", 8, 15, 1, "email,sms"),
)
TEMPLATES = {
    "birthday": ("生日快乐", "尊敬的{name}{title}：祝您生日快乐，身体健康，万事如意！{offer}",
                 "Happy birthday", "Dear {name}, happy birthday from your bank! {offer}"),
    "anniversary": ("感谢相伴", "尊敬的{name}{title}：感谢您与我们相伴又一年！{offer}",
                    "Thank you", "Dear {name}, thank you for another year with us! {offer}"),
    "spring_festival": ("新春快乐", "尊敬的{name}{title}：恭祝新春快乐，阖家幸福！{offer}",
                        "Happy Spring Festival",
                        "Dear {name}, wishing you a happy Spring Festival! {offer}"),
    "mid_autumn": ("中秋快乐", "尊敬的{name}{title}：月圆人团圆，祝您中秋快乐！{offer}",
                   "Happy Mid-Autumn Festival",
                   "Dear {name}, wishing you a happy Mid-Autumn Festival! {offer}"),
}


def _seed_occasions():
    occasions = sa.table(
        "greeting_occasion", sa.column("id"), sa.column("code"), sa.column("name"),
        sa.column("kind"), sa.column("lunar_month"), sa.column("lunar_day"),
        sa.column("lead_days"), sa.column("channel_order"), sa.column("active"),
        sa.column("created_at"))
    templates = sa.table(
        "greeting_template", sa.column("occasion_id"), sa.column("tier"),
        sa.column("language"), sa.column("channel"), sa.column("subject"), sa.column("body"))
    bind = op.get_bind()
    now = _now()
    for code, name, kind, month, day, lead, order in OCCASIONS:
        bind.execute(occasions.insert().values(
            code=code, name=name, kind=kind, lunar_month=month, lunar_day=day, lead_days=lead,
            channel_order=order, active=True, created_at=now))
        occasion_id = bind.execute(
            sa.select(occasions.c.id).where(occasions.c.code == code)).scalar_one()
        subject_zh, body_zh, subject_en, body_en = TEMPLATES[code]
        bind.execute(templates.insert(), [
            dict(occasion_id=occasion_id, tier=None, language="zh", channel=None,
                 subject=subject_zh, body=body_zh),
            dict(occasion_id=occasion_id, tier=None, language="en", channel=None,
                 subject=subject_en, body=body_en),
        ])


def downgrade():
    for table in ("customer_service_flag", "service_flag_type", "complaint", "loan_application",
                  "greeting_dispatch"):
        op.drop_table(table)
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.drop_constraint("fk_follow_up_escalated_to_id_ab_user", type_="foreignkey")
        batch_op.drop_column("escalated_to_id")
        batch_op.drop_column("escalated_at")
    for table in ("greeting_offer", "greeting_template", "greeting_occasion", "consent"):
        op.drop_table(table)
