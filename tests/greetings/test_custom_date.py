"""A ``custom_date`` occasion driven by a real custom date field defined through the field
builder's service: the greeting goes to the customers whose field falls on the day (29 February
on 28 February in other years), to nobody else, and an occasion naming a field that is not a
date selects nobody rather than failing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from backoffice.fields import service as field_service
from backoffice.greetings.dispatch import run_day
from models import Customer, GreetingDispatch, GreetingTemplate, Occasion
from models.fields import CustomFieldDefinition
from tests.greetings.conftest import make_customers

DAY = dt.date(2027, 2, 28)  # not a leap year
MORNING = dt.datetime(2027, 2, 28, 2, 0)  # 10:00 in Shanghai


def _define(session, key: str, field_type: str) -> CustomFieldDefinition:
    clean, errors = field_service.validate_definition({
        "entity": "customer", "key": key, "label_zh": "结婚纪念日", "label_en": "Wedding day",
        "field_type": field_type, "required": False, "sensitive": False}, session=session)
    assert errors == {}, errors
    definition = CustomFieldDefinition()
    field_service.save(definition, clean, session=session)
    session.add(definition)
    session.commit()
    return definition


@pytest.fixture
def wedding_occasion(db_session):
    definition = _define(db_session, "wedding_day", "date")
    text_field = _define(db_session, "wedding_note", "text")
    occasions = []
    for code, key in (("wedding", "wedding_day"), ("wedding_text", "wedding_note")):
        occasion = Occasion(code=code, name="结婚纪念日", kind="custom_date", field_key=key,
                            lead_days=0, channel_order="email", active=True)
        db_session.add(occasion)
        db_session.flush()
        db_session.add(GreetingTemplate(occasion_id=occasion.id, language="zh",
                                        subject="纪念日快乐",
                                        body="{name}{title}，祝您结婚纪念日快乐！"))
        occasions.append(occasion.id)
    db_session.commit()
    yield
    db_session.rollback()
    db_session.execute(delete(GreetingDispatch).where(
        GreetingDispatch.occasion_id.in_(occasions)))
    db_session.execute(delete(GreetingTemplate).where(
        GreetingTemplate.occasion_id.in_(occasions)))
    db_session.execute(delete(Occasion).where(Occasion.id.in_(occasions)))
    db_session.execute(delete(CustomFieldDefinition).where(
        CustomFieldDefinition.id.in_((definition.id, text_field.id))))
    db_session.commit()


def test_custom_date_field_drives_the_occasion(
        db_session, world, channel_config, smtp_server, greeting_cleanup, wedding_occasion):
    """Customers whose wedding day is 28 Feb, or 29 Feb (a leap-day wedding), get one e-mail on
    28 Feb 2027; 1 March and an empty field get none; a text field never matches."""
    birth = dt.date(1975, 5, 5)
    dates = {"on_day": "2001-02-28", "leap": "2004-02-29", "other": "2001-03-01", "none": None}
    made = {}
    for label, value in dates.items():
        fields = {"wedding_day": value} if value else {}
        fields["wedding_note"] = "2001-02-28"  # a text field that looks like the date
        made[label] = make_customers(db_session, world, 1, birth=birth, channel="email",
                                     prefix="W", custom_fields=fields)[0]
    greeting_cleanup.extend(made.values())

    summary = run_day(db_session, channel_config, run_date=DAY, now=MORNING,
                      occasion_codes=["wedding", "wedding_text"])

    assert summary["occasions"]["wedding"]["selected"] == 2
    assert summary["occasions"]["wedding_text"]["selected"] == 0
    emails = {c.id: c.email for c in db_session.scalars(
        select(Customer).where(Customer.id.in_(made.values())))}
    received = [m["to"] for m in smtp_server.recorder.snapshot()]
    assert sorted(received) == sorted([emails[made["on_day"]], emails[made["leap"]]])
    mail = next(m for m in smtp_server.recorder.snapshot() if m["to"] == emails[made["leap"]])
    assert mail["subject"] == "纪念日快乐" and "结婚纪念日快乐" in mail["body"]
    again = run_day(db_session, channel_config, run_date=DAY, now=MORNING,
                    occasion_codes=["wedding"])
    assert again["sent"] == 0 and len(smtp_server.recorder.snapshot()) == 2
