"""Revealing a masked value: only for roles allowed to, with a reason, and on record."""
from __future__ import annotations

from sqlalchemy import select

from backoffice.extensions import db
from tests.support.web import post_form


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
