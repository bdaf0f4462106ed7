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
