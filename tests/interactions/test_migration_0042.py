"""Migration 0042 gives the follow-up tasks the system named their title's message id, on a
database that already holds tasks.

Guards: every task survives with its title text; a title equal to a system title in Chinese or
English, on the rows the system makes it for (a churn task, its escalation, the task a complaint
points at, a loan progress task naming its customer and application, a default rule's task),
gains the key and then reads in either language; the same text on a task a person made, a
complaint number no complaint points at, a customer renamed since, stays text. The downgrade
keeps every row, and the upgrade runs again on the result.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import force_locale
from flask_migrate import downgrade, upgrade

from backoffice import stored_text
from backoffice.extensions import db
from tests.support.services import migration_app, migration_module

MIGRATION = migration_module("0042_followup_title_key")
BEFORE = MIGRATION.down_revision
T0 = dt.datetime(2026, 5, 1, 2, 0)


def _filler(column):
    kind = column["type"]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return T0
    if isinstance(kind, sa.Date):
        return T0.date()
    if isinstance(kind, (sa.Integer, sa.Numeric)):
        return 0
    if isinstance(kind, sa.JSON) or "JSON" in type(kind).__name__.upper():
        return "{}"
    return "x"


def _insert(connection, table: str, **values) -> int:
    """A row of ``table`` as the schema stands: the given values, and a plain value for every
    other column the schema requires."""
    columns = sa.inspect(connection).get_columns(table)
    for column in columns:
        if column["name"] in values or column["nullable"] or column.get("default") is not None:
            continue
        if column["name"] == "id" or column.get("autoincrement") is True:
            continue
        values[column["name"]] = _filler(column)
    target = sa.table(table, *(sa.column(name) for name in values), sa.column("id"))
    return connection.execute(sa.insert(target).values(**values)
                              .returning(target.c.id)).scalar_one()


def _plant(connection) -> dict:
    branch = _insert(connection, "branch", code="M42", name="迁移支行")
    customer, renamed = (
        _insert(connection, "customer", customer_no=f"M42{n:04d}", name=name,
                branch_id=branch, record_uid=f"m42{n:029d}", id_number_bidx=f"m42-{n}",
                custom_fields="{}", tier="mass", customer_type="individual", id_type="PRC_ID",
                status="active", version=1)
        for n, name in ((1, "迁移客户甲"), (2, "改名后的客户")))
    for owner, number in ((customer, "L42-0001"), (renamed, "L42-0002")):
        _insert(connection, "loan_application", application_no=number, customer_id=owner,
                amount=1000, status="approved")

    def task(title, task_type, source, who=customer):
        return _insert(connection, "follow_up", customer_id=who, title=title,
                       task_type=task_type, source=source, status="open", due_at=T0,
                       created_at=T0)

    tasks = {
        "churn_en": task("Churn warning P2: retention follow-up", "retention", "churn"),
        "churn_zh": task("流失预警 P1：挽留跟进", "retention", "churn"),
        "escalation": task("升级：P1 挽留跟进已逾期", "retention", "sla"),
        "complaint": task("处理投诉 #", "complaint_resolution", "interaction"),
        "no_complaint": task("Resolve complaint #999999", "complaint_resolution", "interaction"),
        "loan": task("Tell 迁移客户甲: 贷款申请已批准 (L42-0001)", "loan_progress", "interaction"),
        "loan_renamed": task("告知旧名字：贷款申请已批准（L42-0002）", "loan_progress", "manual",
                             renamed),
        "rule": task("逾期任务升级", "other", "automation"),
        "typed_like_rule": task("逾期任务升级", "other", "manual"),
        "typed": task("周五回访客户", "callback", "manual"),
    }
    complaint = _insert(connection, "complaint", customer_id=customer, summary="排队太久",
                        status="assigned", follow_up_id=tasks["complaint"], opened_at=T0)
    connection.execute(sa.text("UPDATE follow_up SET title = :title WHERE id = :id"),
                       {"title": f"处理投诉 #{complaint}", "id": tasks["complaint"]})
    return {"tasks": tasks, "complaint": complaint}


def _titles() -> dict:
    """{task id: title text}; read and let go (the migration runs on another connection)."""
    found = dict(db.session.execute(sa.text("SELECT id, title FROM follow_up")).all())
    db.session.remove()
    return found


def test_upgrade_names_the_system_titles_it_recognises_and_downgrade_keeps_every_row(tmp_path):
    with migration_app(tmp_path) as app, app.app_context():
        upgrade(revision=BEFORE)
        planted = _plant(db.session.connection())
        db.session.commit()
        before = _titles()
        upgrade(revision=MIGRATION.revision)

        tasks, complaint = planted["tasks"], planted["complaint"]
        keys = dict(db.session.execute(sa.text("SELECT id, title_key FROM follow_up")).all())
        db.session.remove()
        assert _titles() == before  # the text stays as it was
        named = {name for name, task_id in tasks.items() if keys[task_id]}
        assert named == {"churn_en", "churn_zh", "escalation", "complaint", "loan", "rule"}

        def read(name, locale):
            with force_locale(locale):
                return stored_text.show(keys[tasks[name]])

        assert [read("churn_en", "zh"), read("churn_en", "en")] == [
            "流失预警 P2：挽留跟进", "Churn warning P2: retention follow-up"]
        assert read("churn_zh", "en") == "Churn warning P1: retention follow-up"
        assert read("escalation", "en") == "Escalated: overdue P1 retention follow-up"
        assert [read("complaint", "en"), read("complaint", "zh")] == [
            f"Resolve complaint #{complaint}", f"处理投诉 #{complaint}"]
        assert read("loan", "zh") == "告知迁移客户甲：贷款申请已批准（L42-0001）"
        assert read("rule", "en") == "Overdue task escalation"
        # What the application stores for the same title reads the same (one format).
        from flask_babel import lazy_gettext as _l

        assert keys[tasks["complaint"]] == stored_text.keep(
            _l("Resolve complaint #%(id)s", id=complaint))

        downgrade(revision=BEFORE)
        assert _titles() == before
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("follow_up")}
        assert "title_key" not in columns
        db.session.remove()
        upgrade(revision=MIGRATION.revision)
        assert _titles() == before
        db.session.remove()
