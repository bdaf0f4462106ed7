"""A payload carries customer data only as the webhook's role may see it.

Markers are planted in one customer of our own (a top-tier customer, so that the deep profile
is reserved to roles granted it for every customer): the full ID number, the investment
notes, the income and an occupation sent in the event's data. Each role of config/roles.py is
tried; what it may see is read from its grants (roles as data), never from its name.
"""
from __future__ import annotations

import datetime as dt

import pytest

from backoffice.security.masking import mask_value
from config.roles import ROLES
from tests.webhooks.conftest import EVENT

READS_CUSTOMERS = {name for name, spec in ROLES.items()
                   if ("can_read", "Customer") in spec["permissions"]}
DEEP_TOP = {name for name, spec in ROLES.items()
            if ("can_deep_profile_top", "Customer") in spec["permissions"]}


def _payload_text(app, role_name, customer_id, occupation) -> str:
    from flask_appbuilder.security.sqla.models import Role

    from backoffice.extensions import db
    from backoffice.webhooks import payload

    with app.app_context():
        role = db.session.query(Role).filter_by(name=role_name).one() if role_name else None
        document = payload.build(
            db.session, role, event_name=EVENT, entity="customer", entity_id=customer_id,
            customer_id=customer_id, occurred_at=dt.datetime(2026, 12, 1),
            data={"changed": {"occupation": ["旧职业", occupation], "mobile": None}})
        text = payload.encode(document).decode("utf-8")
        db.session.remove()
    return text


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_each_role_sees_only_what_its_grants_allow(app, marked_customer, role_name):
    text = _payload_text(app, role_name, marked_customer["id"], marked_customer["occupation"])
    reads = role_name in READS_CUSTOMERS
    assert marked_customer["id_number"] not in text  # never the full ID number
    assert (mask_value("id_number", marked_customer["id_number"]) in text) is reads
    assert (marked_customer["name"] in text) is reads
    assert (marked_customer["occupation"] in text) is reads
    deep = role_name in DEEP_TOP
    assert (marked_customer["notes"] in text) is deep
    assert (marked_customer["income"] in text) is deep


def test_without_a_role_a_payload_carries_no_customer_data(app, marked_customer):
    text = _payload_text(app, None, marked_customer["id"], marked_customer["occupation"])
    for key in ("id_number", "name", "occupation", "notes", "income"):
        assert marked_customer[key] not in text
    assert mask_value("id_number", marked_customer["id_number"]) not in text
    assert f'"customer_id":{marked_customer["id"]}' in text  # what it is about: ids only


def test_the_roles_tried_cover_both_answers():
    """The matrix above proves something only if some roles read and some do not."""
    assert READS_CUSTOMERS and set(ROLES) - READS_CUSTOMERS
    assert DEEP_TOP and READS_CUSTOMERS - DEEP_TOP
