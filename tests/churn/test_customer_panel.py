"""The churn panel of the 360 page: why a warned customer is at risk, and the retention task.

Guards that a relationship manager opening a customer from the warning list reads the tier, the
model's reasons and the rule signals in words and reaches the open retention task, while roles
without churn warnings (tellers) see the 360 page without the panel, and an unscored customer
shows none. Scores are written directly (the scoring job is tested elsewhere) and deleted after.
"""
from __future__ import annotations

import pytest
from sqlalchemy import delete


@pytest.fixture
def scored(app, world):
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from models import FollowUp
    from models.base import utcnow
    from models.churn import ChurnScore

    ids = [world.customers["c_rm1"], world.customers["c_rm2"]]
    with app.app_context():
        write_scores(db.session, [
            {"customer_id": customer_id, "model_id": None, "probability": 0.83,
             "risk_band": "high", "value_band": "high", "warning_tier": "P1",
             "reasons": [{"feature": "tx_count_change_90d", "impact": 0.2, "value": -0.6}],
             "signals": [{"code": "frequency_drop", "value": -0.6, "threshold": 0.5}],
             "scored_at": utcnow()} for customer_id in ids])
        task = FollowUp(customer_id=ids[0], assignee_id=world.staff["rm1"], title="挽留面板测试",
                        task_type="retention", source="churn", status="open", due_at=utcnow())
        db.session.add(task)
        db.session.commit()
        task_id = task.id
        db.session.remove()
    yield task_id
    with app.app_context():
        db.session.execute(delete(FollowUp).where(FollowUp.id == task_id))
        db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id.in_(ids)))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("username", ["rm1", "bm1", "senior"])
def test_roles_that_work_warnings_see_why_and_the_task(client_as, world, scored, username):
    body = client_as(username).get(f"/customers/show/{world.customers['c_rm1']}") \
        .get_data(as_text=True)
    assert 'id="churn-warning"' in body and 'data-tier="P1"' in body, username
    assert "83.0%" in body and "-60%" in body  # probability, reason and signal in words
    assert f'/followups/show/{scored}"' in body and "挽留面板测试" in body


def test_tellers_get_the_360_page_without_the_panel(client_as, world, scored):
    response = client_as("teller1").get(f"/customers/show/{world.customers['c_rm2']}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "record-interaction" in body
    assert 'id="churn-warning"' not in body


def test_an_unscored_customer_shows_no_panel(client_as, world, scored):
    body = client_as("rm3").get(f"/customers/show/{world.customers['c_rm3']}") \
        .get_data(as_text=True)
    assert "record-interaction" in body and 'id="churn-warning"' not in body
