"""The back office's security manager: staff users with a branch and an employee number."""
from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext as _l

from models import Staff

_STAFF_COLUMNS = ["employee_no", "branch", "security_training_on"]


class StaffUserView(UserDBModelView):
    """FAB's user screen with the staff columns the record scopes depend on."""

    label_columns = {
        **UserDBModelView.label_columns,
        "employee_no": _l("Employee number"),
        "branch": _l("Branch"),
        "security_training_on": _l("Security training date"),
    }
    list_columns = ["username", "last_name", "first_name", "employee_no", "branch", "roles",
                    "active"]
    add_columns = UserDBModelView.add_columns + _STAFF_COLUMNS
    edit_columns = UserDBModelView.edit_columns + _STAFF_COLUMNS
    show_fieldsets = UserDBModelView.show_fieldsets + [
        (_l("Staff"), {"fields": _STAFF_COLUMNS, "expanded": True})
    ]


class CrmSecurityManager(SecurityManager):
    """Uses :class:`models.Staff` as FAB's user model."""

    user_model = Staff
    userdbmodelview = StaffUserView

    @property
    def current_user(self):
        """FAB's current user, without raising when a request carries no JWT."""
        try:
            return super().current_user
        except RuntimeError:
            return None
