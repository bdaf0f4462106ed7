"""Marking customer number fields as counting toward financial assets or annual volume.

The mark lives on the definition (``value_roles``), is set on the admin's field screen, reaches
every feature through the registry's ``FieldSpec``, and is refused (with the reason next to the
field, nothing saved) where the amount could not or should not be added up.
"""
from __future__ import annotations

from sqlalchemy import select

from backoffice.fields import registry, value_roles
from backoffice.fields.service import validate_definition
from models.fields import CustomFieldDefinition
from tests.fields.conftest import unique_key
from tests.support.web import post_form

MONEY = {"entity": "customer", "label_zh": "导入余额", "label_en": "Imported balance",
         "field_type": "money", "position": "1"}


def _definition(db_session, key):
    db_session.expire_all()
    return db_session.execute(select(CustomFieldDefinition).where(
        CustomFieldDefinition.key == key)).scalar_one_or_none()


def _cleanup(app, *keys):
    from backoffice.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.key.in_(keys)))


def test_admin_marks_a_money_field_as_assets_on_the_field_screen(app, client_as, db_session):
    """The form saves the mark; the registry's spec carries it; the shared definition finds it."""
    key = unique_key("imported_balance")
    admin = client_as("admin")
    try:
        response = post_form(admin, "/custom-fields/add", {
            **MONEY, "key": key, "value_roles": ["assets", "volume"]})
        assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
        made = _definition(db_session, key)
        assert made.value_roles == ["assets", "volume"]
        spec = registry.field_spec("customer", key)
        assert spec.value_roles == ("assets", "volume") and spec.counts_toward("assets")
        assert key in [s.key for s in value_roles.marked("assets")]
        assert key in [s.key for s in value_roles.marked("volume")]
        # Unmarking through the edit form takes it out again.
        response = post_form(admin, f"/custom-fields/edit/{made.id}", {
            **{k: v for k, v in MONEY.items() if k != "entity"}, "key": key,
            "value_roles": ["volume"]})
        assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
        assert _definition(db_session, key).value_roles == ["volume"]
        assert key not in [s.key for s in value_roles.marked("assets")]
    finally:
        _cleanup(app, key)


def test_marks_refused_where_the_amount_cannot_or_must_not_be_added(app, client_as,
                                                                     db_session):
    """Text, sensitive, role-restricted and non-customer fields cannot be marked; the screen
    says why next to the field and saves nothing."""
    admin = client_as("admin")
    # (change, English message, its Chinese translation): the page shows one of them.
    cases = [
        ({"field_type": "text"}, "Only number and money fields", "只有数字和金额字段"),
        ({"sensitive": "y"}, "cannot be added up", "无法求和"),
        ({"visible_roles": ["SeniorManager"]}, "only some roles see", "仅部分角色可见"),
        ({"entity": "interaction"}, "Only fields of customers", "只有客户的字段"),
    ]
    keys = []
    try:
        for change, english, chinese in cases:
            key = unique_key("bad_mark")
            keys.append(key)
            response = post_form(admin, "/custom-fields/add", {
                **MONEY, **change, "key": key, "value_roles": ["assets"]})
            assert response.status_code == 200, (change, response.status_code)
            page = response.get_data(as_text=True).replace("&#39;", "'")
            assert english in page or chinese in page, change
            assert _definition(db_session, key) is None, change
    finally:
        _cleanup(app, *keys)


def test_validation_rules_as_data(app):
    """The same checks without the screen: what may be marked, and unknown roles."""
    with app.app_context():
        ok, errors = validate_definition({**MONEY, "key": "vr_probe_ok",
                                          "value_roles": ["volume", "assets"]})
        assert errors == {} and ok["value_roles"] == ["assets", "volume"]
        for data in ({"field_type": "date"}, {"field_type": "text"},
                     {"sensitive": True}, {"visible_roles": ["SeniorManager"]},
                     {"value_roles": ["income"]}):
            _clean, errors = validate_definition({**MONEY, "key": "vr_probe",
                                                  "value_roles": ["assets"], **data})
            assert "value_roles" in errors, data
        clean, errors = validate_definition({**MONEY, "key": "vr_probe_none"})
        assert "value_roles" not in errors and clean.get("value_roles", []) == []
