"""The default rules the bank starts with, shipped by migration ``0032_automation``.

Why both are off: the built-in flows they mirror still run in their own rooms (churn scoring
opens retention tasks and escalates overdue P1 ones; the daily reminders escalate unanswered
inquiries). Moving those set-based statements behind a rule would make a nightly job of a
million customers depend on the outbox; instead each default rule is an editable starting
point that never doubles the built-in work when switched on (the retention rule skips
customers with an open retention task, exactly as scoring does; the escalation rule only adds
an in-app notice). The text below is what the migration stores, as message ids, so each reader
sees the rules in their language until someone renames them.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice import stored_text

DEFAULTS = {
    "churn_retention": (
        _l("Churn retention follow-up"),
        _l("When a customer reaches churn warning P1 or P2, the relationship manager gets a "
           "retention task (skipped while one is open). Off by default: churn scoring already "
           "opens these tasks itself; switched on, this rule adds none twice because it skips "
           "customers with an open retention task.")),
    "overdue_escalation": (
        _l("Overdue task escalation"),
        _l("When a task is overdue, the branch manager of the customer's branch is told in the "
           "app. Off by default: the daily reminders already escalate overdue inquiries and "
           "churn scoring escalates overdue P1 retention tasks; this rule adds a notice for "
           "every overdue task, it does not replace them.")),
}


def stored(code: str) -> tuple[str, str]:
    """(name, description) as the migration stores them."""
    name, description = DEFAULTS[code]
    return stored_text.keep(name), stored_text.keep(description)
