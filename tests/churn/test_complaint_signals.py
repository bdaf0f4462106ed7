"""Complaint cases (the ``complaint`` workflow table) feed the churn features and the
"complaint in the last 30 days" signal, not only interactions flagged as complaints.

The customers here are the test's own (numbers C8…) and are deleted afterwards.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import delete

from backoffice.churn import dataset, extract, rules
from models import Complaint, Customer, Interaction
from models.base import utcnow


def _customer(session, world, number):
    customer = Customer(customer_no=number, name=f"客户{number}", customer_type="individual",
                        gender="F", birth_date=dt.date(1980, 3, 4), id_type="PASSPORT",
                        id_number=f"E{number[2:]}", branch_id=world.branches["B1"],
                        owner_id=world.staff["rm1"], risk_tolerance="C3", status="active",
                        custom_fields={}, onboarded_on=dt.date(2020, 1, 1))
    session.add(customer)
    session.flush()
    return customer


@pytest.fixture
def customers(app, world):
    from backoffice.extensions import db

    with app.app_context():
        session = db.session
        now = utcnow()
        quiet, unhappy, flagged = (_customer(session, world, f"C8{n:07d}") for n in (1, 2, 3))
        session.add_all([
            # Resolved in 36 hours, re-checked at 2, and a second one still open.
            Complaint(customer_id=unhappy.id, summary="收费不明", status="rechecked",
                      opened_at=now - dt.timedelta(days=10),
                      assigned_at=now - dt.timedelta(days=10),
                      resolved_at=now - dt.timedelta(days=10) + dt.timedelta(hours=36),
                      rechecked_at=now - dt.timedelta(days=5), recheck_satisfaction=2),
            Complaint(customer_id=unhappy.id, summary="排队太久", status="open",
                      opened_at=now - dt.timedelta(days=3)),
            # An old complaint: outside both windows, but its case is still open.
            Complaint(customer_id=quiet.id, summary="旧投诉", status="assigned",
                      opened_at=now - dt.timedelta(days=200)),
        ])
        interaction = Interaction(customer_id=flagged.id, staff_id=world.staff["rm1"],
                                  occurred_at=now - dt.timedelta(days=2), channel="phone",
                                  direction="inbound", topic="complaint", summary="投诉来电",
                                  complaint=True, custom_fields={})
        session.add(interaction)
        session.flush()
        # The case raised from the flagged call must not count the same complaint twice.
        session.add(Complaint(customer_id=flagged.id, summary="投诉来电", status="open",
                              interaction_id=interaction.id,
                              opened_at=now - dt.timedelta(days=2)))
        session.commit()
        ids = {"quiet": quiet.id, "unhappy": unhappy.id, "flagged": flagged.id}
        yield session, now, ids
        session.rollback()
        for model in (Complaint, Interaction):  # SQLite may not cascade: ids get reused
            session.execute(delete(model).where(model.customer_id.in_(ids.values())))
        session.execute(delete(Customer).where(Customer.id.in_(ids.values())))
        session.commit()
        session.remove()


def _features(session, now, ids):
    lo, hi = min(ids.values()), max(ids.values())
    _rows, frame = dataset.chunk_features(session, extract.Snapshot(as_of=now),
                                          dataset.Selection(), lo, hi)
    return frame.loc[list(ids.values())]


def test_complaint_rows_give_non_zero_complaint_features(customers):
    """Counts in 30/90 days, open cases, hours to resolve the last one, last re-check score."""
    session, now, ids = customers
    frame = _features(session, now, ids)
    unhappy, quiet = frame.loc[ids["unhappy"]], frame.loc[ids["quiet"]]
    assert unhappy["complaints_30d"] == 0  # no flagged interaction at all
    assert unhappy["complaint_cases_30d"] == 2
    assert unhappy["complaint_cases_90d"] == 2
    assert unhappy["open_complaints"] == 1
    assert unhappy["last_complaint_hours_to_resolve"] == pytest.approx(36.0, abs=0.01)
    assert unhappy["last_recheck_satisfaction"] == 2
    assert (quiet["complaint_cases_30d"], quiet["complaint_cases_90d"]) == (0, 0)
    assert quiet["open_complaints"] == 1


def test_a_complaint_row_fires_the_complaint_signal_without_a_flagged_interaction(customers):
    """The 30-day complaint rule fires for a case; a case raised from a flagged call is
    counted once; an old open case alone does not fire it."""
    session, now, ids = customers
    frame = _features(session, now, ids)
    signals = rules.evaluate_signals(frame, pd.Series(["low"] * len(frame), index=frame.index),
                                     {"complaint": rules.DEFAULT_RULES["complaint"]})
    by_id = dict(zip(frame.index, signals))
    assert by_id[ids["unhappy"]] == [{"code": "complaint", "value": 2.0, "threshold": 1.0}]
    assert by_id[ids["flagged"]] == [{"code": "complaint", "value": 1.0, "threshold": 1.0}]
    assert by_id[ids["quiet"]] == []
