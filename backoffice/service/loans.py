"""Loan application progress: the status change use case that also informs the customer.

A screen, the API and an import all call :func:`change_status`, so every step forward sends the
customer a notice on a channel they consented to (purpose ``service``) and logs it as an
Interaction; a step the workflow does not allow is refused with a message naming both states.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice import stored_text
from backoffice.service import sla
from backoffice.service.notify import delivered, notify
from models import FollowUp
from models.base import utcnow
from models.loans import LOAN_TRANSITIONS, LoanApplication

NOTICES = {
    "under_review": ("贷款申请审核中",
                     "尊敬的{name}{title}：您的贷款申请{no}已进入审核，我们会尽快告知结果。"),
    "approved": ("贷款申请已批准", "尊敬的{name}{title}：您的贷款申请{no}（{amount}元）已获批准。"),
    "rejected": ("贷款申请结果",
                 "尊敬的{name}{title}：很遗憾，您的贷款申请{no}未获批准，详情请咨询客户经理。"),
    "disbursed": ("贷款已发放",
                  "尊敬的{name}{title}：您的贷款{no}（{amount}元）已发放至您的账户。"),
}
TITLES = {"M": "先生", "F": "女士"}


class TransitionRefused(ValueError):
    """The workflow does not allow this step."""


def change_status(session, config, application: LoanApplication, new_status: str, *,
                  staff_id=None):
    """Move the application to ``new_status``, stamp the time, notify, log. Does not commit."""
    allowed = LOAN_TRANSITIONS.get(application.status, ())
    if new_status not in allowed:
        raise TransitionRefused(_("A loan application cannot go from %(old)s to %(new)s.",
                                  old=application.status, new=new_status))
    now = utcnow()
    application.status = new_status
    application.status_changed_at = now
    if new_status in ("approved", "rejected"):
        application.decided_at = now
    if new_status == "disbursed":
        application.disbursed_at = now
    customer = application.customer
    subject, template = NOTICES[new_status]
    body = template.format(name=customer.name, title=TITLES.get(customer.gender or "", ""),
                           no=application.application_no, amount=f"{application.amount:,.2f}")
    interaction = notify(session, config, customer, subject=subject, body=body,
                         topic="loan_progress", message_id=f"loan-{application.id}-{new_status}",
                         staff_id=staff_id)
    if _needs_a_person(interaction, new_status):
        session.add(progress_task(config, application, new_status, subject, body, interaction))
    return interaction


def _needs_a_person(interaction, new_status: str) -> bool:
    """A member of staff must tell the customer when no notice reached them (no consented
    channel, or the send failed), and after a rejection, which a text alone should not end."""
    return not delivered(interaction) or new_status == "rejected"


def progress_task(config, application: LoanApplication, new_status: str, subject: str,
                  body: str, interaction=None) -> FollowUp:
    """A "loan progress notice" task for the loan officer (else the customer's manager),
    due by the task type's SLA in Chinese working days."""
    customer = application.customer
    title = _l("Tell %(name)s: %(subject)s (%(no)s)", name=customer.name, subject=subject,
               no=application.application_no)
    return FollowUp(
        customer_id=customer.id, assignee_id=application.officer_id or customer.owner_id,
        title=str(title)[:200], title_key=stored_text.keep(title),
        task_type="loan_progress", source="interaction" if interaction is not None else "manual",
        status="open", due_at=sla.default_due("loan_progress", config), notes=body,
        interaction=interaction)
