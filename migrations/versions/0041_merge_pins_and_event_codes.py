"""merge the parallel revisions after the switched-on times: segment pins, and the webhook event
codes with the counters of what rules and webhooks want

Revision ID: 0041_merge_pins_and_event_codes
Revises: 0036_segment_pins, 0040_webhook_event_codes
"""

revision = "0041_merge_pins_and_event_codes"
down_revision = ("0036_segment_pins", "0040_webhook_event_codes")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
