"""Enumerated values of the domain, with translatable labels.

Stored values are short stable codes; labels are lazy so that they follow the user's language.
"""
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

GENDERS = {"M": _l("Male"), "F": _l("Female")}
ID_TYPES = {
    "PRC_ID": _l("PRC resident ID card"),
    "PASSPORT": _l("Passport"),
    "HK_MO_PERMIT": _l("Mainland travel permit (HK/Macao)"),
    "TW_PERMIT": _l("Mainland travel permit (Taiwan)"),
    "USCC": _l("Unified social credit code"),
}
CUSTOMER_TYPES = {"individual": _l("Individual"), "corporate": _l("Corporate")}
RISK_TOLERANCES = {
    "C1": _l("C1 Conservative"),
    "C2": _l("C2 Cautious"),
    "C3": _l("C3 Balanced"),
    "C4": _l("C4 Growth"),
    "C5": _l("C5 Aggressive"),
}
CUSTOMER_STATUSES = {
    "active": lazy_pgettext("customer status", "Active"),
    "dormant": _l("Dormant"),
    "closed": lazy_pgettext("customer status", "Closed"),
    "deceased": _l("Deceased"),
}
PRODUCT_CATEGORIES = {
    "deposit": _l("Demand deposit"),
    "time_deposit": _l("Time deposit"),
    "wealth": _l("Wealth management"),
    "fund": _l("Fund"),
    "insurance": _l("Insurance"),
    "loan": _l("Loan"),
    "credit_card": _l("Credit card"),
}
RISK_LEVELS = {
    "R1": _l("R1 Low"),
    "R2": _l("R2 Medium-low"),
    "R3": _l("R3 Medium"),
    "R4": _l("R4 Medium-high"),
    "R5": _l("R5 High"),
}
ACCOUNT_STATUSES = {"open": lazy_pgettext("account status", "Open"),
                    "closed": lazy_pgettext("account status", "Closed"), "frozen": _l("Frozen")}
DIRECTIONS = {"in": _l("Inflow"), "out": _l("Outflow")}
TRANSACTION_CHANNELS = {
    "counter": _l("Counter"),
    "mobile": _l("Mobile banking"),
    "online": _l("Online banking"),
    "atm": _l("ATM"),
    "pos": _l("POS"),
}
TRANSACTION_TYPES = {
    "salary": _l("Salary"),
    "spending": _l("Spending"),
    "transfer_in": _l("Transfer in"),
    "transfer_out": _l("Transfer out"),
    "wealth_purchase": _l("Wealth purchase"),
    "wealth_redemption": _l("Wealth redemption"),
    "loan_repayment": _l("Loan repayment"),
    "interest": _l("Interest"),
    "fee": _l("Fee"),
}
INTERACTION_CHANNELS = {
    "phone": _l("Phone"),
    "sms": _l("SMS"),
    "email": _l("Email"),
    "branch": _l("Branch visit"),
    "wechat": _l("WeChat"),
}
INTERACTION_DIRECTIONS = {"inbound": _l("Inbound"), "outbound": _l("Outbound")}
INTERACTION_TOPICS = {
    "inquiry": _l("Product inquiry"),
    "service": _l("Service request"),
    "complaint": _l("Complaint"),
    "marketing": _l("Marketing"),
    "loan_progress": _l("Loan progress"),
    "greeting": _l("Greeting"),
    "retention": _l("Retention"),
    "other": _l("Other"),
}
TASK_TYPES = {
    "callback": _l("Callback"),
    "inquiry_answer": _l("Inquiry answer"),
    "complaint_resolution": _l("Complaint resolution"),
    "loan_progress": _l("Loan progress notice"),
    "retention": _l("Retention"),
    "greeting_call": _l("Greeting call"),
    "campaign": _l("Campaign"),
    "other": _l("Other"),
}
TIERS = {
    "private_banking": _l("Private banking"),
    "wealth": _l("Wealth"),
    "vip": _l("VIP"),
    "mass": _l("Mass"),
}
# Tiers whose deep profile only senior managers and the owning relationship manager may see.
TOP_TIERS = ("private_banking", "wealth")
TASK_SOURCES = {
    "manual": _l("Entered by staff"),
    "interaction": _l("From an interaction"),
    "campaign": _l("Campaign"),
    "churn": _l("Churn warning"),
    "greeting": _l("Greeting"),
    "sla": _l("Service level escalation"),
    "automation": _l("Automation rule"),
}
TASK_STATUSES = {"open": lazy_pgettext("task status", "Open"),
                 "done": lazy_pgettext("task status", "Done"), "cancelled": _l("Cancelled")}
JOB_STATUSES = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "finished": _l("Finished"),
    "failed": _l("Failed"),
}


def choice_list(mapping: dict) -> list[tuple[str, object]]:
    """The (value, label) pairs a select field wants."""
    return list(mapping.items())
