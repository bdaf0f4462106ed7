"""merge the parallel revisions of automation and collaboration: the event outbox, notifications,
comments, automation rules and webhooks

Revision ID: 0034_merge_collaboration
Revises: 0029_events, 0030_notifications, 0031_comments, 0032_automation, 0033_webhooks
"""

revision = "0034_merge_collaboration"
down_revision = ("0029_events", "0030_notifications", "0031_comments", "0032_automation",
                 "0033_webhooks")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
