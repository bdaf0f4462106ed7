"""Writes are logged automatically, field by field, with sensitive values masked.

The session hook writes the rows in the business transaction: a rollback leaves no row, and a
committed change always has its row. Sensitive fields (encrypted or not) appear only masked,
never as plaintext or ciphertext; noise columns are left out; passwords are "changed".
"""
from __future__ import annotations

import json

from sqlalchemy import select

from backoffice.audit import hooks
from backoffice.extensions import db
from backoffice.security.masking import mask_value
from models import Branch, Customer, Staff
from models.audit import AuditLog
from tests.audit.conftest import last_id, log_rows, verify_cli
from tests.support.web import csrf_token

LOG = AuditLog.__table__


def _new_rows(app, since, **match):
    rows = log_rows(app, LOG.c.id > since)
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _detail(row):
    return json.loads(row["detail"])


def test_customer_edit_through_the_screen_logs_masked_before_and_after(app, world, client_as):
    client = client_as("rm1")
    pk = world.customers["c_rm1"]
    url = f"/customers/edit/{pk}"
    token = csrf_token(client, url)
    with app.app_context():
        current = db.session.get(Customer, pk)
        old_email, old_occupation = current.email, current.occupation
        form = {
            "name": current.name, "customer_type": current.customer_type,
            "gender": current.gender, "birth_date": current.birth_date.isoformat(),
            "id_type": current.id_type, "id_number": "", "mobile": "",
            "email": "new.address@example.org", "occupation": "审计测试工程师",
            "status": current.status, "risk_tolerance": current.risk_tolerance or "",
            "branch": str(current.branch_id), "owner": str(current.owner_id),
            "expected_version": str(current.version), "csrf_token": token,
        }
        db.session.remove()
    since = last_id(app)
    response = client.post(url, data=form, headers={"User-Agent": "audit-test/1.0"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    rows = _new_rows(app, since, action="update", entity="Customer")
    assert len(rows) == 1, rows
    row = rows[0]
    changes = _detail(row)["changes"]
    assert changes["email"] == {"before": mask_value("email", old_email),
                                "after": mask_value("email", "new.address@example.org")}
    assert changes["occupation"] == {"before": old_occupation, "after": "审计测试工程师"}
    assert "new.address" not in row["detail"] and old_email not in row["detail"]
    assert not any(key.endswith(("_enc", "_bidx")) for key in changes)
    assert "version" not in changes and "updated_at" not in changes
    assert row["customer_id"] == pk and row["entity_id"] == str(pk)
    assert row["actor_username"] == "rm1" and row["actor_id"] == world.staff["rm1"]
    assert "RelationshipManager" in row["actor_roles"]
    assert row["ip"] == "127.0.0.1" and row["user_agent"] == "audit-test/1.0"
    with app.app_context():  # put the shared test world back as it was
        customer = db.session.get(Customer, pk)
        customer.email, customer.occupation = old_email, old_occupation
        db.session.commit()
        db.session.remove()


def test_encrypted_fields_are_diffed_by_name_and_masked(app, world):
    pk = world.customers["c_rm3"]
    since = last_id(app)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        old_id, old_mobile = customer.id_number, customer.mobile
        old_notes = customer.service_notes
        customer.mobile = "13799990001"
        customer.service_notes = "偏好电话联系"
        db.session.commit()
        # Put the shared test world back as it was (other tests look customers up by mobile).
        customer.mobile, customer.service_notes = old_mobile, old_notes
        db.session.commit()
        db.session.remove()
    row = _new_rows(app, since, action="update", entity="Customer")[0]
    changes = _detail(row)["changes"]
    assert changes["mobile"] == {"before": mask_value("mobile", old_mobile),
                                 "after": "137****0001"}
    assert changes["service_notes"]["after"] == "偏好电话联系"
    assert "id_number" not in changes
    for secret in (old_mobile, "13799990001", old_id, '"v1.'):
        assert secret not in row["detail"]


def test_create_and_delete_are_logged_with_their_values(app):
    since = last_id(app)
    with app.app_context():
        branch = Branch(code="AUD1", name="审计支行", city="上海")
        db.session.add(branch)
        db.session.commit()
        branch_id = branch.id
        branch.name = "审计支行（新）"
        db.session.commit()
        db.session.delete(branch)
        db.session.commit()
        db.session.remove()
    rows = _new_rows(app, since, entity="Branch", entity_id=str(branch_id))
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    assert _detail(rows[0])["values"]["code"] == "AUD1"
    assert _detail(rows[1])["changes"] == {"name": {"before": "审计支行",
                                                    "after": "审计支行（新）"}}
    assert _detail(rows[2])["values"]["name"] == "审计支行（新）"


def test_rolled_back_change_leaves_no_row_and_the_chain_intact(app):
    since = last_id(app)
    with app.app_context():
        db.session.add(Branch(code="AUD2", name="回滚支行"))
        db.session.flush()
        db.session.rollback()
        db.session.remove()
    assert _new_rows(app, since) == []
    assert verify_cli(app)[0] == 0


def test_paused_capture_writes_nothing(app):
    since = last_id(app)
    with app.app_context():
        with hooks.paused(db.session):
            db.session.add(Branch(code="AUD3", name="批量支行"))
            db.session.commit()
        db.session.remove()
    assert _new_rows(app, since, entity="Branch") == []


def test_staff_changes_are_configuration_changes_without_the_password_hash(app, world):
    since = last_id(app)
    with app.app_context():
        auditor = app.appbuilder.sm.find_role("Auditor")
        user = db.session.get(Staff, world.staff["operator"])
        assert auditor not in user.roles  # loads the roles before the changes below
        real_hash = user.password
        user.password = "pbkdf2:sha256:fake$hash"
        user.login_count = (user.login_count or 0) + 1
        user.roles.append(auditor)
        db.session.commit()  # one flush, one row: password and roles together
        user.roles.remove(auditor)
        user.password = real_hash  # the operator logs in again in other tests
        db.session.commit()
        db.session.remove()
    rows = _new_rows(app, since, entity="Staff", entity_id=str(world.staff["operator"]))
    assert [r["action"] for r in rows] == ["config_change", "config_change"]
    first, second = (_detail(r) for r in rows)
    assert first["op"] == "update"
    assert first["changes"]["password"] == "changed"
    assert first["changes"]["roles"] == {"added": ["Auditor"], "removed": []}
    assert "login_count" not in first["changes"]
    assert "fake$hash" not in rows[0]["detail"]
    assert second["changes"] == {"password": "changed",
                                 "roles": {"added": [], "removed": ["Auditor"]}}


def test_role_permission_changes_are_logged(app):
    since = last_id(app)
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Operator")
        grant = sm.find_permission_view_menu("can_read", "Customer")
        role.permissions.append(grant)
        db.session.commit()
        role.permissions.remove(grant)
        db.session.commit()
        db.session.remove()
    rows = _new_rows(app, since, entity="Role")
    assert [_detail(r)["changes"]["permissions"] for r in rows] == [
        {"added": ["can read on Customer"], "removed": []},
        {"added": [], "removed": ["can read on Customer"]},
    ]
    assert all(r["action"] == "config_change" for r in rows)


def test_login_counters_alone_are_not_logged(app, world):
    since = last_id(app)
    with app.app_context():
        user = db.session.get(Staff, world.staff["bm2"])
        user.login_count = (user.login_count or 0) + 1
        user.fail_login_count = 0
        db.session.commit()
        db.session.remove()
    assert _new_rows(app, since, entity="Staff") == []


def test_registered_models_can_be_added(app):
    """Later rooms log their own models with ``audit_model``."""
    from models import Product

    assert hooks._audited(Product(code="x", name="y", category="deposit")) is not None
    with app.app_context():
        assert db.session.scalars(select(Branch).limit(1)).first() is not None


def test_set_based_update_is_logged_as_one_summary_row(app):
    from sqlalchemy import update

    since = last_id(app)
    with app.app_context():
        db.session.add(Branch(code="AUD4", name="批量前"))
        db.session.commit()
        db.session.execute(update(Branch).where(Branch.code == "AUD4").values(city="杭州"))
        db.session.commit()
        db.session.remove()
    rows = [r for r in _new_rows(app, since, entity="Branch") if r["action"] == "update"]
    assert len(rows) == 1
    assert _detail(rows[0]) == {"bulk": True, "columns": ["city"], "rows": 1}
    assert verify_cli(app)[0] == 0
