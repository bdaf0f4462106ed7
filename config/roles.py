"""The seven roles of the back office, as data.

``flask crm init`` makes the database match this file: each role gets exactly these permissions
(pairs of FAB permission and view-menu name) and nothing else, so re-running it after an upgrade
also removes a permission this file no longer grants. ``scope`` is the record scope of the role
(see ``backoffice.security.scopes``); a user with several roles gets the widest.

Screens and REST APIs share one permission name per entity (``class_permission_name``), with
``can_read`` / ``can_write`` / ``can_delete`` standing for the FAB methods (see
``backoffice.views_base.METHOD_PERMISSIONS``).
"""
from flask_babel import lazy_gettext as _l

READ, WRITE, DELETE, MENU = "can_read", "can_write", "can_delete", "menu_access"

# Menu entries (view-menu names FAB checks with ``menu_access``).
MENU_CUSTOMERS = "Customers"
MENU_ACCOUNTS = "Accounts"
MENU_TRANSACTIONS = "Transactions"
MENU_INTERACTIONS = "Interactions"
MENU_FOLLOW_UPS = "Follow-ups"
MENU_MY_TASKS = "My tasks"
MENU_BRANCHES = "Branches"
MENU_PRODUCTS = "Products"
MENU_JOBS = "Background jobs"
CATEGORY_CUSTOMERS = "Customer management"
CATEGORY_SERVICE = "Service"
CATEGORY_CATALOG = "Organisation"
CATEGORY_SYSTEM = "System"

SECURITY_VIEWS = [
    # FAB's own user, role, group and permission screens: "*" grants every permission FAB
    # registers on that view (they change between FAB releases), and nothing on any other view.
    ("*", "Users"), ("*", "Roles"), ("*", "UserGroupModelView"), ("*", "RoleModelView"),
    ("*", "PermissionModelView"), ("*", "ViewMenuModelView"), ("*", "PermissionViewModelView"),
    ("*", "UserStatsChartView"), ("*", "ResetPasswordView"),
    (MENU, "List Users"), (MENU, "List Roles"), (MENU, "List Groups"), (MENU, "Security"),
    (MENU, "Base Permissions"), (MENU, "Views/Menus"), (MENU, "Permission on Views/Menus"),
    (MENU, "User's Statistics"),
]
OWN_ACCOUNT = [
    ("can_get", "OpenApi"), ("can_userinfo", "Users"), ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"), ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
]


def _crud(view, *perms):
    return [(perm, view) for perm in perms]


def _customer_service(write_customers: bool) -> list:
    """What every role that serves customers may do on its scoped records."""
    grants = (
        _crud("Customer", READ, *( [WRITE] if write_customers else [] ))
        + _crud("Account", READ)
        + _crud("Transaction", READ)
        + _crud("Interaction", READ, WRITE)
        + _crud("FollowUp", READ, WRITE)
        + _crud("Branch", READ)
        + _crud("Product", READ)
        + [(MENU, m) for m in (
            MENU_CUSTOMERS, MENU_ACCOUNTS, MENU_TRANSACTIONS, MENU_INTERACTIONS,
            MENU_FOLLOW_UPS, MENU_MY_TASKS, CATEGORY_CUSTOMERS, CATEGORY_SERVICE,
        )]
    )
    return grants


ROLES = {
    "Admin": {
        "label": _l("System administrator"),
        "scope": "none",
        "permissions": SECURITY_VIEWS + OWN_ACCOUNT
        + _crud("Branch", READ, WRITE, DELETE) + _crud("Product", READ, WRITE, DELETE)
        + _crud("JobRun", READ)
        + [(MENU, MENU_BRANCHES), (MENU, MENU_PRODUCTS), (MENU, MENU_JOBS),
           (MENU, CATEGORY_CATALOG), (MENU, CATEGORY_SYSTEM)],
    },
    "SeniorManager": {
        "label": _l("Senior manager"),
        "scope": "all",
        "permissions": _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE) + _crud("JobRun", READ)
        + [(MENU, MENU_BRANCHES), (MENU, MENU_PRODUCTS), (MENU, CATEGORY_CATALOG),
           (MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)],
    },
    "BranchManager": {
        "label": _l("Branch manager"),
        "scope": "branch",
        "permissions": _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE) + _crud("FollowUp", DELETE)
        + [(MENU, MENU_BRANCHES), (MENU, MENU_PRODUCTS), (MENU, CATEGORY_CATALOG)],
    },
    "RelationshipManager": {
        "label": _l("Relationship manager"),
        "scope": "own",
        "permissions": _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE),
    },
    "Teller": {
        "label": _l("Teller"),
        "scope": "own",
        "permissions": _customer_service(write_customers=True) + OWN_ACCOUNT,
    },
    "Operator": {
        "label": _l("Data operator"),
        "scope": "none",
        "permissions": OWN_ACCOUNT + _crud("JobRun", READ)
        + [(MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)],
    },
    "Auditor": {
        "label": _l("Auditor"),
        "scope": "none",
        "permissions": OWN_ACCOUNT + _crud("JobRun", READ)
        + [(MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)],
    },
}

# Widest first: a user holding several roles gets the first scope any of them grants.
SCOPE_ORDER = ("all", "branch", "own", "none")
