"""SQLAlchemy models, one module per area.

Models use Flask-AppBuilder's declarative ``Model`` so that FAB's own tables (``ab_*``) and ours
share one metadata; Alembic autogenerate and Flask-SQLAlchemy both read that metadata.
"""
from flask_appbuilder import Model

from models.org import Branch, Staff
from models.catalog import Product
from models.customers import Customer
from models.banking import Account, Transaction
from models.service import FollowUp, Interaction
from models.jobs import JobRun
from models.review import ChangeRequest  # noqa: F401 - maker-checker review (issue 3)
from models.audit import AuditArchive, AuditHead, AuditLog  # noqa: F401 - operation log (issue 3)
from models.fields import CustomFieldDefinition, FieldSet  # noqa: F401 - custom fields (issue 4)
from models.imports import (  # noqa: F401 - imports and export approvals (issue 5)
    ExportRequest, ImportBatch, ImportFile, ImportRowChange, ImportTemplate)
from models.consent import Consent  # noqa: F401 - consent per channel and purpose (issue 8)
from models.greetings import (  # noqa: F401 - greetings and the dispatch ledger (issue 8)
    GreetingDispatch, GreetingTemplate, Occasion, Offer)
from models.complaints import (  # noqa: F401 - complaints, service flags (issue 8)
    Complaint, CustomerServiceFlag, ServiceFlagType)
from models.loans import LoanApplication  # noqa: F401 - loan application progress (issue 8)
from models.segments import (  # noqa: F401 - tiers, segments, needs (issue 6)
    Segment, SegmentCount, SegmentMembership, TierChange)
from models.campaigns import (  # noqa: F401 - campaigns (issue 6)
    Campaign, CampaignMessage, CampaignTarget)
from models.churn import (  # noqa: F401 - churn early warning (issue 7)
    ChurnModel, ChurnScore, ChurnSetting, ChurnSignalRule)
from models.summaries import DashboardSummary  # noqa: F401 - dashboards (issue 9)
from models.config_version import ConfigVersion  # noqa: F401 - per-deployment cache keys
from models.events import DomainEvent, DomainEventHandled  # noqa: F401 - event outbox
from models.automation import (  # noqa: F401 - automation rules
    AutomationFire, AutomationMessage, AutomationRule, AutomationRun, AutomationRunItem)
from models.notifications import (  # noqa: F401 - staff notifications
    Notification, NotificationDigest, NotificationPreference)
from models.comments import Comment  # noqa: F401 - comments with @mentions
from models.webhooks import (  # noqa: F401 - outbound webhooks
    Webhook, WebhookAttempt, WebhookDelivery)

metadata = Model.metadata

__all__ = [
    "Account",
    "Branch",
    "Customer",
    "FollowUp",
    "Interaction",
    "JobRun",
    "Model",
    "Product",
    "Staff",
    "Transaction",
    "metadata",
]
