"""follow-up tasks the system names keep their title as a message id (``follow_up.title_key``), so
that each reader reads it in their own language

Revision ID: 0042_followup_title_key
Revises: 0041_merge_pins_and_event_codes

``title`` keeps the text the task was made with; ``title_key`` (nullable) holds the title as a
stored message (``backoffice.stored_text``: a marker, then the message id and its parameters as
JSON). Existing rows gain a key only where their title is, character for character, a title the
system makes, in Chinese or English, checked against the rows it names:

- churn retention tasks (source ``churn``: "Churn warning P1/P2: retention follow-up") and their
  escalation (source ``sla``, task type ``retention``);
- a complaint's resolution task (the complaint that points at the task, by its number);
- a loan progress task (the customer's name as it stands, one of the four notice subjects, one of
  the customer's application numbers; a customer renamed since keeps the title as text);
- a default automation rule's task (source ``automation``, the rule's default name).

Every other title (typed by a person, a rule's own title, a campaign's or a greeting's name) is
left as text, as it is shown today. Only ``follow_up`` is altered (no batch rebuild of any other
table: the triggers of 0040 on ``webhook`` and ``automation_rule`` stay untouched).
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0042_followup_title_key"
down_revision = "0041_merge_pins_and_event_codes"
branch_labels = None
depends_on = None

# Kept here (not imported from the application) so that this revision keeps its meaning: the
# stored-text marker and the titles as the application made them, in English and in Chinese.
MARK = "\x1ei18n:"
CHURN = ("Churn warning %(tier)s: retention follow-up", "流失预警 %(tier)s：挽留跟进")
ESCALATION = ("Escalated: overdue P1 retention follow-up", "升级：P1 挽留跟进已逾期")
COMPLAINT = ("Resolve complaint #%(id)s", "处理投诉 #%(id)s")
LOAN = ("Tell %(name)s: %(subject)s (%(no)s)", "告知%(name)s：%(subject)s（%(no)s）")
LOAN_SUBJECTS = ("贷款申请审核中", "贷款申请已批准", "贷款申请结果", "贷款已发放")
RULE_NAMES = (("Churn retention follow-up", "流失预警挽留跟进"),
              ("Overdue task escalation", "逾期任务升级"))
TITLE_LENGTH = 200


def _key(msgid: str, **params) -> str:
    """What ``stored_text.keep(lazy_gettext(msgid, **params))`` stores."""
    return MARK + json.dumps([{"f": "gettext", "a": [msgid], "k": params}], ensure_ascii=False,
                             separators=(",", ":"))


def _texts(pair, **params) -> list[str]:
    return [(text % params if params else text)[:TITLE_LENGTH] for text in pair]


def upgrade():
    op.add_column("follow_up", sa.Column("title_key", sa.Text(), nullable=True))
    connection = op.get_bind()
    follow_up = sa.table("follow_up", sa.column("id"), sa.column("title"),
                         sa.column("title_key"), sa.column("task_type"), sa.column("source"),
                         sa.column("customer_id"))

    def name(where, key, texts):
        connection.execute(sa.update(follow_up).where(
            follow_up.c.title_key.is_(None), follow_up.c.title.in_(texts), *where)
            .values(title_key=key))

    for tier in ("P1", "P2"):
        name([follow_up.c.task_type == "retention", follow_up.c.source == "churn"],
             _key(CHURN[0], tier=tier), _texts(CHURN, tier=tier))
    name([follow_up.c.task_type == "retention", follow_up.c.source == "sla"],
         _key(ESCALATION[0]), _texts(ESCALATION))
    for english, chinese in RULE_NAMES:
        name([follow_up.c.source == "automation"], _key(english), [english, chinese])
    _name_complaint_tasks(connection, follow_up)
    _name_loan_tasks(connection, follow_up)


def _name_complaint_tasks(connection, follow_up):
    """The task a complaint points at, titled with that complaint's number (set-based)."""
    complaint = sa.table("complaint", sa.column("id"), sa.column("follow_up_id"))
    number = sa.cast(complaint.c.id, sa.String)
    english, chinese = (text.replace("%(id)s", "") for text in COMPLAINT)
    prefix, suffix = _key(COMPLAINT[0], id=0).split('"id":0')
    owner = (sa.select(complaint.c.id).where(complaint.c.follow_up_id == follow_up.c.id)
             .correlate(follow_up).limit(1).scalar_subquery())
    owner_number = (sa.select(number).where(complaint.c.follow_up_id == follow_up.c.id)
                    .correlate(follow_up).limit(1).scalar_subquery())
    connection.execute(
        sa.update(follow_up)
        .where(follow_up.c.title_key.is_(None), follow_up.c.task_type == "complaint_resolution",
               owner.is_not(None),
               sa.or_(follow_up.c.title == sa.literal(english) + owner_number,
                      follow_up.c.title == sa.literal(chinese) + owner_number))
        .values(title_key=sa.literal(prefix) + '"id":' + owner_number + suffix))


def _name_loan_tasks(connection, follow_up):
    """A loan progress task whose title names its customer, a notice subject and one of the
    customer's applications (row by row: the name goes into the key's JSON)."""
    customer = sa.table("customer", sa.column("id"), sa.column("name"))
    loan = sa.table("loan_application", sa.column("customer_id"), sa.column("application_no"))
    rows = connection.execute(
        sa.select(follow_up.c.id, follow_up.c.title, customer.c.name, follow_up.c.customer_id)
        .join(customer, customer.c.id == follow_up.c.customer_id)
        .where(follow_up.c.title_key.is_(None), follow_up.c.task_type == "loan_progress")
        .order_by(follow_up.c.customer_id)).all()
    numbers: dict[int, list[str]] = {}
    for task_id, title, customer_name, customer_id in rows:
        if customer_id not in numbers:
            numbers[customer_id] = list(connection.execute(
                sa.select(loan.c.application_no).where(loan.c.customer_id == customer_id))
                .scalars())
        key = _loan_key(title, customer_name, numbers[customer_id])
        if key is not None:
            connection.execute(sa.update(follow_up).where(follow_up.c.id == task_id)
                               .values(title_key=key))


def _loan_key(title, customer_name, application_numbers):
    for subject in LOAN_SUBJECTS:
        for no in application_numbers:
            params = {"name": customer_name, "subject": subject, "no": no}
            if title in _texts(LOAN, **params):
                return _key(LOAN[0], **params)
    return None


def downgrade():
    with op.batch_alter_table("follow_up") as batch:
        batch.drop_column("title_key")
