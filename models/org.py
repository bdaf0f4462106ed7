"""The bank's organisation: branches and the staff who work in them.

Staff are Flask-AppBuilder users with a branch: FAB's documented way to extend its user is a
subclass mapped onto ``ab_user`` with the extra columns, which the security manager then uses.
"""
from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    event,
)
from sqlalchemy.orm import attributes, relationship


class Branch(Model):
    """A branch (支行) of the bank; customers and staff belong to one."""

    __tablename__ = "branch"
    id = Column(Integer, primary_key=True)
    code = Column(String(20), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    city = Column(String(50))
    address = Column(String(255))
    phone = Column(String(30))

    def __repr__(self) -> str:
        return self.name or ""


class Staff(User):
    """A member of staff: a FAB user with a branch (the branch scope of branch managers)."""

    __tablename__ = "ab_user"
    branch_id = Column(Integer, ForeignKey("branch.id", ondelete="SET NULL"), index=True)
    employee_no = Column(String(20), unique=True)
    mobile = Column(String(20))  # work mobile, from the staff file
    security_training_on = Column(Date)
    # Login policy (issue 3, backoffice.security.login_policy): all naive UTC.
    locked_until = Column(DateTime)  # set after too many failed logins; refused until then
    confidentiality_accepted_at = Column(DateTime)  # 保密协议, accepted at first login
    password_changed_at = Column(DateTime)
    # Raised to end every session and API token issued before (backoffice.security.sessions):
    # a signed cookie or JWT cannot be taken back, a stamp compared with this column can.
    session_epoch = Column(Integer, nullable=False, default=0, server_default="0")
    branch = relationship(Branch, foreign_keys=[branch_id])

    # What shows a member of staff (``__repr__``): the columns a page joining staff to its rows
    # reads (``backoffice.datamodel.joined``).
    display_columns = ("id", "first_name", "last_name", "username")

    def __repr__(self) -> str:
        return f"{self.last_name}{self.first_name}" if self.last_name else self.username

    def get_full_name(self) -> str:
        """Family name first, as Chinese names are written (FAB's menu and user pages)."""
        return repr(self)


class SetPasswordToken(Model):
    """A one-time link for a new member of staff to choose their password.

    Staff files carry no passwords: each user a staff import creates gets an unusable password
    and one of these (``backoffice.security.set_password``). Only the SHA-256 of the token is
    kept, so a database dump opens no account; ``sealed_link`` holds the link sealed with the
    key ring until it has been shown once to whoever imported the file (then it is erased),
    and stays empty when the link went by e-mail. A token works once, until ``expires_at``.
    """

    __tablename__ = "set_password_token"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    batch_id = Column(Integer, ForeignKey("import_batch.id", ondelete="SET NULL"), index=True)
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime)
    sealed_link = Column(LargeBinary)
    emailed_at = Column(DateTime)

    user = relationship(Staff, foreign_keys=[user_id])


def _revokes_sessions(target) -> bool:
    """A new password, an activation change or a new lock ends the user's sessions and tokens."""
    if attributes.get_history(target, "password").has_changes():
        return True
    if attributes.get_history(target, "active").has_changes():
        return True
    locked = attributes.get_history(target, "locked_until")
    return locked.has_changes() and any(value is not None for value in locked.added)


@event.listens_for(Staff, "before_update", propagate=True)
def _bump_session_epoch(_mapper, _connection, target) -> None:
    """Raise ``session_epoch`` in the same UPDATE as the change that calls for it.

    Here rather than in each caller, so that every path that changes a password (the user's
    own form, an admin's reset, FAB's CLI), deactivates or locks an account revokes alike. The
    increment is done by the database (``session_epoch + 1``), so two processes revoking at
    once cannot both write the same number.
    """
    if _revokes_sessions(target):
        target.session_epoch = Staff.session_epoch + 1
