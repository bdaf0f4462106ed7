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

# Maker-checker review (backoffice.review): makers' changes to reviewed fields become
# change requests; checkers approve them (branch managers their branch, senior managers all).
MENU_PENDING_REVIEWS = "Pending reviews"
MENU_MY_REQUESTS = "My change requests"
REVIEW_MAKER = [("can_propose", "ChangeRequest"), (READ, "ChangeRequest"),
                (MENU, MENU_MY_REQUESTS)]
REVIEW_CHECKER = [("can_approve", "ChangeRequest"), (READ, "ChangeRequest"),
                  (MENU, MENU_PENDING_REVIEWS)]

SECURITY_VIEWS = [
    # FAB's own user, role, group and permission screens, by the view names FAB 5 checks:
    # "*" grants every permission FAB registers on that view, and nothing on any other view.
    ("*", "StaffUserView"), ("*", "RoleModelView"), ("*", "UserGroupModelView"),
    ("*", "PermissionModelView"), ("*", "ViewMenuModelView"), ("*", "PermissionViewModelView"),
    ("*", "UserStatsChartView"), ("*", "ResetPasswordView"),
    (MENU, "List Users"), (MENU, "List Roles"), (MENU, "List Groups"), (MENU, "Security"),
    (MENU, "Base Permissions"), (MENU, "Views/Menus"), (MENU, "Permission on Views/Menus"),
    (MENU, "User's Statistics"),
]
OWN_ACCOUNT = [
    # Every member of staff: their own profile page, profile edit and password change.
    ("can_get", "OpenApi"), ("can_userinfo", "StaffUserView"), ("userinfoedit", "StaffUserView"),
    ("resetmypassword", "StaffUserView"),
    (READ, "Notification"),  # their own notifications and digest setting
    ("can_this_form_get", "ResetMyPasswordView"), ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"), ("can_this_form_post", "UserInfoEditView"),
]


# The operation log (backoffice.audit): read, filter and export it. Only auditors: the
# log records administrators' own configuration changes, so they do not review it themselves.
MENU_OPERATION_LOG = "Operation log"
AUDIT_LOG_REVIEW = [(READ, "AuditLog"), ("can_export", "AuditLog"), (MENU, MENU_OPERATION_LOG)]

# See a masked value of a customer in full, one at a time, with a logged reason. Tellers do not.
REVEAL = [("can_reveal", "Customer")]
# The deep profile (assets, income, balances, family and investment notes), decided by
# backoffice.security.policy from these grants alone: the customers a user owns; customers in
# scope outside the top tiers; top-tier (private banking, wealth) customers in scope.
DEEP_PROFILE_OWN = [("can_deep_profile_own", "Customer")]
DEEP_PROFILE_BRANCH = [("can_deep_profile", "Customer")]
DEEP_PROFILE_ALL = DEEP_PROFILE_BRANCH + [("can_deep_profile_top", "Customer")]
# Export the (scoped, masked) lists of customer data to CSV/XLSX. Tellers do not.
EXPORT = [("can_export", view) for view in
          ("Customer", "Account", "Transaction", "Interaction", "FollowUp")]


# Custom fields and field sets (backoffice.fields): configuration screens, no delete
# (archiving keeps the data).
MENU_CUSTOM_FIELDS = "Custom fields"
MENU_FIELD_SETS = "Field sets"
CUSTOM_FIELD_ADMIN = [(READ, "CustomField"), (WRITE, "CustomField"), (READ, "FieldSet"),
                      (WRITE, "FieldSet"), (MENU, MENU_CUSTOM_FIELDS), (MENU, MENU_FIELD_SETS)]

# Home dashboards (backoffice.dashboards): recompute the figures now (a job).
DASHBOARD_REFRESH = [("can_refresh", "Dashboard")]
# Which home panels a role sees (backoffice.dashboards.registry): one grant per panel, so a new
# or renamed role gets exactly the panels granted here. The figures still follow its scope.
PANEL_PERMISSIONS = {key: f"can_see_panel_{key}" for key in (
    "tiers", "tasks", "movement", "channels", "flow", "complaints")}
DASHBOARD_PANELS = {key: [(perm, "Dashboard")] for key, perm in PANEL_PERMISSIONS.items()}
# Whoever serves customers: their book by tier, tasks, customers gained and lost, channels.
BOOK_PANELS = [grant for key in ("tiers", "tasks", "movement", "channels")
               for grant in DASHBOARD_PANELS[key]]
# Whoever manages a book: money in and out, complaints and their resolution (not tellers).
MANAGER_PANELS = DASHBOARD_PANELS["flow"] + DASHBOARD_PANELS["complaints"]

# Receive the branch's escalations (overdue retention tasks, unanswered inquiries past their
# SLA): backoffice.security.holders finds the holder in the customer's branch by this grant.
ESCALATION_TARGET = [("can_take_escalations", "FollowUp")]
# Own a book of customers: a new customer an import leaves without an owner goes to a holder in
# its branch, smallest book first (backoffice.imports.default_owner, by backoffice.security.holders).
BOOK_OWNER = [("can_own_book", "Customer")]


# Bulk imports (backoffice.imports): operators upload and run batches; a second person
# (senior managers) approves big batches or ones that change reviewed fields; auditors read.
# The error report is further limited to the uploader, approvers and auditors in the view.
MENU_IMPORTS = "Imports"
IMPORT_OPERATOR = [(READ, "ImportBatch"), (WRITE, "ImportBatch"), (MENU, MENU_IMPORTS),
                   ("can_import_records", "ImportBatch")]
# A bank's first day (backoffice.imports.kinds): branches and products are configuration, and
# staff files create users with roles (an access decision), so both are the administrator's;
# operators keep customer data. Uploading a file of these kinds needs ImportBatch write access.
IMPORT_SETUP = [(READ, "ImportBatch"), (WRITE, "ImportBatch"), (MENU, MENU_IMPORTS),
                ("can_import_org", "ImportBatch"), ("can_import_staff", "ImportBatch")]
IMPORT_APPROVER = [(READ, "ImportBatch"), ("can_approve", "ImportBatch"), (MENU, MENU_IMPORTS)]
IMPORT_AUDIT = [(READ, "ImportBatch"), (MENU, MENU_IMPORTS)]
# Exports above CRM_EXPORT_MAX_ROWS: whoever exports may ask; a second person approves (senior
# managers any request, branch managers their branch's); the requester downloads once.
MENU_EXPORT_REQUESTS = "Export requests"
EXPORT_REQUESTER = [(READ, "ExportRequest"), (MENU, MENU_EXPORT_REQUESTS)]
EXPORT_APPROVER = [(READ, "ExportRequest"), ("can_approve", "ExportRequest"),
                   (MENU, MENU_EXPORT_REQUESTS)]

# Tiers, segments, needs and campaigns (backoffice.segments, backoffice.campaigns):
# senior managers edit the rules and approve campaigns; branch managers draft and run campaigns;
# relationship managers see their targets and record outcomes. A tier override goes through
# maker-checker review like any reviewed customer field.
CATEGORY_MARKETING = "Marketing"
MENU_SEGMENTS = "Tiers and segments"
MENU_TIERS = "Tier distribution"
MENU_CAMPAIGNS = "Campaigns"
MARKETING_READ = [(READ, "Segment"), ("can_override", "Segment"), (READ, "Campaign"),
                  ("can_outcome", "Campaign"), (MENU, MENU_SEGMENTS), (MENU, MENU_TIERS),
                  (MENU, MENU_CAMPAIGNS), (MENU, CATEGORY_MARKETING)]
MARKETING_PLAN = MARKETING_READ + [(WRITE, "Campaign")]
MARKETING_LEAD = MARKETING_PLAN + [(WRITE, "Segment"), ("can_approve", "Campaign")]


# Relationship maintenance and service (backoffice.greetings, backoffice.service).
MENU_GREETINGS_SENT = "Greetings sent"
MENU_OCCASIONS = "Occasions"
MENU_GREETING_TEMPLATES = "Greeting templates"
MENU_GREETING_OFFERS = "Greeting offers"
MENU_COMPLAINTS = "Complaints"
MENU_LOANS = "Loan applications"
MENU_CONSENTS = "Consents"
MENU_SERVICE_FLAGS = "Service flags"
MENU_SERVICE_FLAG_TYPES = "Service flag types"
MENU_COUNTER = "Counter view"
GREETING_CONFIG = [(p, v) for v in ("Occasion", "GreetingTemplate", "Offer", "ServiceFlagType")
                   for p in ("can_read", "can_write")] + [
    ("menu_access", m) for m in (MENU_OCCASIONS, MENU_GREETING_TEMPLATES, MENU_GREETING_OFFERS,
                                 MENU_SERVICE_FLAG_TYPES, "Service")]
SERVICE_WORK = [(p, v) for v in ("Complaint", "LoanApplication", "Consent",
                                 "CustomerServiceFlag") for p in ("can_read", "can_write")] + [
    ("can_read", "GreetingDispatch"), ("can_read", "ServiceFlagType"),
    ("can_read", "Counter")] + [
    ("menu_access", m) for m in (MENU_GREETINGS_SENT, MENU_COMPLAINTS, MENU_LOANS,
                                 MENU_CONSENTS, MENU_SERVICE_FLAGS, MENU_COUNTER)]
SERVICE_EXPORT = [("can_export", v) for v in ("Complaint", "LoanApplication", "Consent",
                                              "GreetingDispatch")]

# Churn early warning (backoffice.churn): warnings and dashboard within the record
# scope; model versions and signal thresholds are configuration (no customer data).
CATEGORY_CHURN = "Churn early warning"
MENU_CHURN_WARNINGS = "Churn warnings"
MENU_CHURN_DASHBOARD = "Churn dashboard"
MENU_CHURN_MODELS = "Churn models"
MENU_CHURN_SIGNALS = "Churn signal settings"
CHURN_READ = [(READ, "ChurnWarning"), (MENU, MENU_CHURN_WARNINGS), (MENU, MENU_CHURN_DASHBOARD),
              (MENU, CATEGORY_CHURN)]
CHURN_LEAD = CHURN_READ + [(WRITE, "ChurnWarning"), (READ, "ChurnModel"),
                           ("can_activate", "ChurnModel"), (READ, "ChurnSignalRule"),
                           (MENU, MENU_CHURN_MODELS), (MENU, MENU_CHURN_SIGNALS)]
CHURN_ADMIN = [(READ, "ChurnModel"), ("can_activate", "ChurnModel"), (READ, "ChurnSignalRule"),
               (WRITE, "ChurnSignalRule"), (MENU, MENU_CHURN_MODELS),
               (MENU, MENU_CHURN_SIGNALS), (MENU, CATEGORY_CHURN)]


# Comments with @mentions (backoffice.comments): whoever serves customers comments on the
# records they may read; reading a thread also needs the record itself (its scope and its own
# read permission), so these grants never widen what a role sees.
COMMENTS = [(READ, "Comment"), (WRITE, "Comment")]


# The data wall (数据大屏, backoffice.datawall): a full-screen page of a branch's or the bank's
# figures for a TV. Which wall is decided by the record scope (a whole branch, or the bank);
# each tile also needs the grant of the dashboard panel or screen it summarises.
MENU_DATAWALL = "Data wall"
DATAWALL = [(READ, "DataWall"), (MENU, MENU_DATAWALL)]


# Outbound webhooks (backoffice.webhooks): registering where the bank's customer events go and
# whose view of customer data they carry is an access decision, so administrators only.
MENU_WEBHOOKS = "Webhooks"
WEBHOOK_ADMIN = [(READ, "Webhook"), (WRITE, "Webhook"), (MENU, MENU_WEBHOOKS)]

# Automation rules (backoffice.automation): writing rules, and approving another person's rule
# that messages customers. Which rules a holder edits follows their record scope: a branch
# manager's rules are their branch's and act on its customers only.
MENU_AUTOMATION = "Automation rules"
AUTOMATION_LEAD = [(READ, "AutomationRule"), (WRITE, "AutomationRule"),
                   ("can_approve", "AutomationRule"), (MENU, MENU_AUTOMATION)]


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
        + COMMENTS
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
           (MENU, CATEGORY_CATALOG), (MENU, CATEGORY_SYSTEM)]
        + CUSTOM_FIELD_ADMIN + IMPORT_SETUP
        + GREETING_CONFIG
        + CHURN_ADMIN  # churn early warning
        + WEBHOOK_ADMIN  # outbound webhooks
        + AUTOMATION_LEAD,  # automation rules
    },
    "SeniorManager": {
        "label": _l("Senior manager"),
        "scope": "all",
        "permissions": GREETING_CONFIG + SERVICE_WORK + SERVICE_EXPORT
        + REVIEW_CHECKER + _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE) + _crud("JobRun", READ) + REVEAL + EXPORT
        + DEEP_PROFILE_OWN + DEEP_PROFILE_ALL
        + [(MENU, MENU_BRANCHES), (MENU, MENU_PRODUCTS), (MENU, CATEGORY_CATALOG),
           (MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)]
        + DASHBOARD_REFRESH + BOOK_PANELS + MANAGER_PANELS + IMPORT_APPROVER + EXPORT_APPROVER
        + MARKETING_LEAD
        + DATAWALL  # the data wall
        + AUTOMATION_LEAD  # automation rules
        + CHURN_LEAD,  # churn early warning
    },
    "BranchManager": {
        "label": _l("Branch manager"),
        "scope": "branch",
        "permissions": SERVICE_WORK + SERVICE_EXPORT
        + REVIEW_CHECKER + _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE) + _crud("FollowUp", DELETE) + REVEAL + EXPORT
        + DEEP_PROFILE_OWN + DEEP_PROFILE_BRANCH + ESCALATION_TARGET
        + EXPORT_APPROVER + [(MENU, CATEGORY_SYSTEM)]
        + [(MENU, MENU_BRANCHES), (MENU, MENU_PRODUCTS), (MENU, CATEGORY_CATALOG)]
        + DASHBOARD_REFRESH + BOOK_PANELS + MANAGER_PANELS
        + MARKETING_PLAN
        + DATAWALL  # the data wall
        + AUTOMATION_LEAD  # automation rules
        + CHURN_READ,  # churn early warning
    },
    "RelationshipManager": {
        "label": _l("Relationship manager"),
        "scope": "own",
        "permissions": SERVICE_WORK + SERVICE_EXPORT + REVIEW_MAKER + _customer_service(write_customers=True) + OWN_ACCOUNT
        + _crud("Account", WRITE) + REVEAL + EXPORT + DEEP_PROFILE_OWN + BOOK_OWNER
        + EXPORT_REQUESTER + [(MENU, CATEGORY_SYSTEM)] + BOOK_PANELS + MANAGER_PANELS
        + MARKETING_READ
        + CHURN_READ,  # churn early warning
    },
    "Teller": {
        "label": _l("Teller"),
        "scope": "own",
        "permissions": SERVICE_WORK + REVIEW_MAKER + _customer_service(write_customers=True) + OWN_ACCOUNT
        + BOOK_PANELS,
    },
    "Operator": {
        "label": _l("Data operator"),
        "scope": "none",
        "permissions": OWN_ACCOUNT + _crud("JobRun", READ)
        + [(MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)] + IMPORT_OPERATOR,
    },
    "Auditor": {
        "label": _l("Auditor"),
        "scope": "none",
        "permissions": OWN_ACCOUNT + _crud("JobRun", READ)
        + [(MENU, MENU_JOBS), (MENU, CATEGORY_SYSTEM)]
        # Staff list and details, read-only: security training and confidentiality agreement.
        + [("can_list", "StaffUserView"), ("can_show", "StaffUserView"),
           (MENU, "List Users"), (MENU, "Security")]
        + AUDIT_LOG_REVIEW + IMPORT_AUDIT,
    },
}

# Widest first: a user holding several roles gets the first scope any of them grants.
SCOPE_ORDER = ("all", "branch", "own", "none")
