"""Revealing a masked value: only for roles allowed to, with a reason, and on record."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from tests.support.web import csrf_token, post_form


def reveal_url(world, key, field):
    return f"/customers/reveal/{world.customers[key]}/{field}"


def test_owner_reveals_mobile_with_a_reason_and_it_is_logged(app, world, client_as):
    from models.audit import AuditLog

    client = client_as("rm1")
    url = reveal_url(world, "c_rm1", "mobile")
    page = client.get(url).get_data(as_text=True)
    assert "138****0001" in page and "13800130001" not in page
    refused = post_form(client, url, {"reason": ""})
    assert "13800130001" not in refused.get_data(as_text=True)
    shown = post_form(client, url, {"reason": "客户来电核实身份"})
    assert shown.status_code == 200
    assert "13800130001" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal")
                                   .order_by(AuditLog.id.desc())).first()
        assert entry is not None and entry.actor_username == "rm1"
        assert "客户来电核实身份" in entry.detail and "13800130001" not in entry.detail


def test_teller_cannot_reveal(world, client_as):
    response = client_as("teller1").get(reveal_url(world, "c_rm2", "mobile"))
    assert response.status_code == 404


def test_reveal_out_of_scope_is_404(world, client_as):
    assert client_as("rm1").get(reveal_url(world, "c_rm3", "mobile")).status_code == 404


def test_deep_profile_is_withheld_or_shown_never_revealed(world, client_as):
    """Deep-profile values are not masked but withheld: there is nothing to reveal."""
    client = client_as("bm1")
    assert client.get(reveal_url(world, "c_rm1", "annual_income")).status_code == 404
    assert client.get(reveal_url(world, "c_rm1", "mobile")).status_code == 200
    top_tier = client.get(f"/customers/show/{world.customers['c_rm1']}").get_data(as_text=True)
    ordinary = client.get(f"/customers/show/{world.customers['c_rm2']}").get_data(as_text=True)
    assert "家庭备注c_rm1" not in top_tier and "家庭备注c_rm2" in ordinary
    owner = client_as("rm1").get(f"/customers/show/{world.customers['c_rm1']}")
    assert "家庭备注c_rm1" in owner.get_data(as_text=True)


def test_unknown_field_is_404(world, client_as):
    assert client_as("rm1").get(reveal_url(world, "c_rm1", "password")).status_code == 404


# --- sensitive custom fields -----------------------------------------------------------------

CUSTOM_MOBILE, CUSTOM_MASKED = "13712348888", "137****8888"


@pytest.fixture
def sealed_custom_field(app, world):
    """A sensitive custom mobile (and a senior-only one) holding values on c_rm1 and c_rm3;
    definitions deleted and documents put back afterwards (tests only)."""
    from backoffice.fields import values as v
    from backoffice.fields.registry import field_catalog
    from models import Customer
    from models.fields import CustomFieldDefinition

    suffix = uuid.uuid4().hex[:6]
    keys = {"open": f"guardian_mobile_{suffix}", "senior": f"board_mobile_{suffix}",
            "plain": f"hobby_{suffix}"}
    targets = [world.customers["c_rm1"], world.customers["c_rm3"]]
    with app.app_context():
        definitions = [
            CustomFieldDefinition(entity="customer", key=keys["open"], field_type="mobile",
                                  label_zh="监护人手机", label_en="Guardian mobile",
                                  sensitive=True),
            CustomFieldDefinition(entity="customer", key=keys["senior"], field_type="mobile",
                                  label_zh="董事手机", label_en="Board mobile", sensitive=True,
                                  visible_roles=["SeniorManager"]),
            CustomFieldDefinition(entity="customer", key=keys["plain"], field_type="text",
                                  label_zh="爱好", label_en="Hobby"),
        ]
        db.session.add_all(definitions)
        db.session.commit()
        ids = [d.id for d in definitions]
        before = {}
        for customer_id in targets:
            customer = db.session.get(Customer, customer_id)
            before[customer_id] = dict(customer.custom_fields or {})
            v.apply_values(customer, {keys["open"]: CUSTOM_MOBILE,
                                      keys["senior"]: "13611112222", keys["plain"]: "围棋"},
                           specs=field_catalog("customer"))
        db.session.commit()
        db.session.remove()
    yield keys
    with app.app_context(), db.engine.begin() as connection:
        for customer_id, document in before.items():
            connection.execute(Customer.__table__.update().where(Customer.id == customer_id)
                               .values(custom_fields=document))
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.id.in_(ids)))


def test_owner_reveals_a_sensitive_custom_field_with_a_reason_and_it_is_logged(
        app, world, client_as, sealed_custom_field):
    from models.audit import AuditLog

    field = f"custom_fields.{sealed_custom_field['open']}"
    client = client_as("rm1")
    profile = client.get(f"/customers/show/{world.customers['c_rm1']}").get_data(as_text=True)
    assert f"/customers/reveal/{world.customers['c_rm1']}/{field}" in profile
    assert CUSTOM_MASKED in profile and CUSTOM_MOBILE not in profile
    url = reveal_url(world, "c_rm1", field)
    page = client.get(url).get_data(as_text=True)
    assert "监护人手机" in page and CUSTOM_MASKED in page and CUSTOM_MOBILE not in page
    refused = post_form(client, url, {"reason": ""})
    assert refused.status_code == 200 and CUSTOM_MOBILE not in refused.get_data(as_text=True)
    shown = post_form(client, url, {"reason": "核实监护人身份"})
    assert shown.status_code == 200 and CUSTOM_MOBILE in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal")
                                   .order_by(AuditLog.id.desc())).first()
        assert entry.actor_username == "rm1" and entry.customer_id == world.customers["c_rm1"]
        assert field in entry.detail and "核实监护人身份" in entry.detail
        assert CUSTOM_MOBILE not in entry.detail


def test_custom_reveal_is_404_for_unseen_customers_fields_and_roles(app, world, client_as,
                                                                   sealed_custom_field):
    """Out of scope, a field the role may not see, a field that is not sensitive, a role
    without the reveal right, an unknown key: all 404, and nothing is revealed or logged."""
    from models.audit import AuditLog

    with app.app_context():
        last = db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    opened = f"custom_fields.{sealed_custom_field['open']}"
    senior_only = f"custom_fields.{sealed_custom_field['senior']}"
    plain = f"custom_fields.{sealed_custom_field['plain']}"
    rm1 = client_as("rm1")
    token = csrf_token(rm1, reveal_url(world, "c_rm1", opened))  # a form rm1 may open
    for url in (reveal_url(world, "c_rm3", opened),  # not rm1's customer
                reveal_url(world, "c_rm1", senior_only)):  # not rm1's field
        assert rm1.get(url).status_code == 404, url
        posted = rm1.post(url, data={"csrf_token": token, "reason": "越权查看"})
        assert posted.status_code == 404, url
    assert rm1.get(reveal_url(world, "c_rm1", plain)).status_code == 404
    assert rm1.get(reveal_url(world, "c_rm1", "custom_fields.no_such_key")).status_code == 404
    profile = rm1.get(f"/customers/show/{world.customers['c_rm1']}").get_data(as_text=True)
    assert senior_only not in profile and "董事手机" not in profile
    assert client_as("teller1").get(reveal_url(world, "c_rm2", opened)).status_code == 404
    assert client_as("auditor").get(reveal_url(world, "c_rm1", opened)).status_code == 404
    with app.app_context():
        revealed = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "reveal", AuditLog.id > (last or 0))).all()
        assert revealed == []
    senior = client_as("senior")
    shown = post_form(senior, reveal_url(world, "c_rm3", senior_only), {"reason": "董事会核对"})
    assert shown.status_code == 200 and "13611112222" in shown.get_data(as_text=True)
