"""Customers an automation rule adds to a segment are pinned members: the nightly refresh, which
re-applies the segment's own rule, keeps them until someone allowed to edit the segment removes
the pin on its screen (within their record scope, on the operation log).

Members are defined as matched by the segment's rule ∪ pinned, each customer once; the
refresh's figures and the screens' counts are checked against that definition, recomputed here
from the rows. Each refresh runs inside the test's transaction and is rolled back, so the
bank-wide tiers and other tests' segments are left as they were.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select

from backoffice.automation import engine
from backoffice.extensions import db
from models import Segment, SegmentCount, SegmentMembership
from models.audit import AuditLog
from models.base import utcnow
from tests.support.web import csrf_token


@pytest.fixture
def segment_of(bank):
    """``segment_of(rule)``: a segment with that rule, removed (with its rows) afterwards."""
    made = []

    def _make(rule):
        tag = uuid.uuid4().hex[:8]
        segment = Segment(code=f"pin_{tag}", name=f"置顶分群{tag}", kind="segment", rule=rule,
                          priority=100, active=True, offer_categories=[])
        db.session.add(segment)
        db.session.commit()
        made.append(segment.id)
        return segment

    def cleanup():
        for model in (SegmentMembership, SegmentCount):
            db.session.execute(delete(model).where(model.segment_id.in_(made)))
        db.session.execute(delete(Segment).where(Segment.id.in_(made)))

    bank.extra.append(cleanup)
    return _make


def _adding_rule(bank, segment, conditions=None):
    return bank.rule(trigger_kind="schedule", schedule_kind="daily", schedule_time="09:00",
                     conditions=conditions or bank.conditions(),
                     actions=[{"kind": "segment", "segment_id": segment.id}])


def _rows(segment_id) -> dict:
    """``{customer id: (source, matched, added_by_rule_id)}`` of the segment."""
    return {m.customer_id: (m.source, m.matched, m.added_by_rule_id)
            for m in db.session.scalars(select(SegmentMembership).where(
                SegmentMembership.segment_id == segment_id))}


def _refresh():
    """The nightly refresh, in the test's transaction (the caller rolls it back)."""
    from backoffice.segments.catalog import rule_fields
    from backoffice.segments.refresh import refresh_all

    return refresh_all(db.session, rule_fields(session=db.session), today=utcnow().date())


def _recomputed(segment_id, matched_ids) -> tuple[int, int, int]:
    """(members, matched, pinned) from the rows and the customers the rule matches."""
    pinned = set(db.session.scalars(select(SegmentMembership.customer_id).where(
        SegmentMembership.segment_id == segment_id, SegmentMembership.source == "added")))
    return len(set(matched_ids) | pinned), len(set(matched_ids)), len(pinned)


class Client:
    """A signed-in test client whose every request runs in an app context of its own: the
    ``bank`` fixture holds one app context for the whole test, and requests made in it would
    share its ``g`` (the signed-in user, their record scope) from one user to the next."""

    def __init__(self, app, client_as, username):
        self.app = app
        with app.app_context():
            self.client = client_as(username)

    def get(self, url):
        with self.app.app_context():
            return self.client.get(url)

    def post(self, url, **kwargs):
        with self.app.app_context():
            return self.client.post(url, **kwargs)


@pytest.fixture
def signed_in(app, client_as):
    return lambda username: Client(app, client_as, username)


def _unpin(client, segment_id, customer_id, form="/segments/"):
    token = csrf_token(client, form)  # any form of the session: the index's refresh button
    return client.post(f"/segments/unpin/{segment_id}/{customer_id}",
                       data={"csrf_token": token})


def test_a_pinned_customer_survives_the_refresh_until_the_pin_is_removed(bank, segment_of,
                                                                         signed_in):
    [customer] = bank.customers(1)
    segment = segment_of({"op": "and", "items": [  # matches none of the bank's customers
        {"field": "customer.occupation", "op": "eq", "value": bank.marker + "-none"}]})
    rule = _adding_rule(bank, segment)
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:pin")
    db.session.rollback()
    assert _rows(segment.id) == {customer: ("added", False, rule.id)}

    result = _refresh()
    assert _rows(segment.id) == {customer: ("added", False, rule.id)}
    assert (result["segments"][segment.code], result["matched"][segment.code],
            result["pinned"][segment.code]) == (1, 0, 1) == _recomputed(segment.id, [])
    db.session.refresh(segment)
    assert (segment.member_count, segment.pinned_count) == (1, 1)
    db.session.rollback()

    senior = signed_in("senior")
    page = senior.get(f"/segments/show/{segment.id}").get_data(as_text=True)
    assert 'id="pinned-members">1<' in page and f'data-customer="{customer}"' in page
    assert f"测试规则 {bank.marker}" in page  # the rule that added them, by name
    assert "crm-unpin" in page
    tab = senior.get(f"/customers/show/{customer}/tab/marketing").get_data(as_text=True)
    row = tab.split(f'data-code="{segment.code}"', 1)[1].split("</tr>", 1)[0]
    assert "crm-pinned" in row  # the 360 page says the customer was added, not matched
    response = _unpin(senior, segment.id, customer)
    assert response.status_code == 302
    db.session.rollback()
    assert _rows(segment.id) == {}  # the rule did not match them: they leave now
    entry = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "segment.unpin", AuditLog.customer_id == customer)).one()
    assert entry.entity_id == str(segment.id) and entry.actor_username == "senior"
    assert _unpin(senior, segment.id, customer).status_code == 404  # no pin left

    result = _refresh()
    assert _rows(segment.id) == {}
    assert result["segments"][segment.code] == 0
    db.session.rollback()


def test_matched_and_pinned_is_one_member(bank, segment_of, signed_in):
    """A is matched and pinned, B matched, C pinned: three members, two matched, two pinned;
    removing A's pin keeps A (the rule matches), removing C's drops C."""
    a, b = bank.customers(2, risk_tolerance="C2")
    [c] = bank.customers(1, risk_tolerance="C4")
    segment = segment_of({"op": "and", "items": [
        *bank.conditions()["items"],
        {"field": "customer.risk_tolerance", "op": "eq", "value": "C2"}]})
    flagged = {"op": "and", "items": [*bank.conditions()["items"],
                                      {"field": "customer.flag_vip", "op": "eq", "value": True}]}
    from models import Customer

    for pk in (a, c):
        db.session.get(Customer, pk).flag_vip = True
    db.session.commit()
    rule = _adding_rule(bank, segment, flagged)
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:both")
    db.session.rollback()

    result = _refresh()
    rows = _rows(segment.id)
    assert rows == {a: ("added", True, rule.id), b: ("rule", True, None),
                    c: ("added", False, rule.id)}
    figures = (result["segments"][segment.code], result["matched"][segment.code],
               result["pinned"][segment.code])
    assert figures == (3, 2, 2) == _recomputed(segment.id, [a, b])
    db.session.refresh(segment)
    assert (segment.member_count, segment.pinned_count) == (3, 2)
    count = db.session.scalars(select(SegmentCount).where(
        SegmentCount.segment_id == segment.id)).one()
    assert (count.count, count.pinned) == (3, 2)
    db.session.rollback()

    # The refresh's rows, committed, for the screens (a committed refresh would re-tier the
    # whole test bank).
    db.session.get(SegmentMembership, (segment.id, a)).matched = True
    db.session.add(SegmentMembership(segment_id=segment.id, customer_id=b, since=utcnow()))
    db.session.get(Segment, segment.id).member_count = 3
    db.session.commit()
    senior = signed_in("senior")
    page = senior.get(f"/segments/show/{segment.id}").get_data(as_text=True)
    assert 'id="visible-members">3<' in page
    assert 'id="matched-members">2<' in page and 'id="pinned-members">2<' in page
    index = senior.get("/segments/").get_data(as_text=True)
    cell = index.split(f'data-segment="{segment.id}">', 1)[1].split("</td>", 1)[0]
    assert cell.startswith("3") and "crm-pinned-count" in cell

    assert _unpin(senior, segment.id, a).status_code == 302
    assert _unpin(senior, segment.id, c).status_code == 302
    db.session.rollback()
    assert _rows(segment.id) == {a: ("rule", True, None), b: ("rule", True, None)}
    result = _refresh()
    assert _rows(segment.id) == {a: ("rule", True, None), b: ("rule", True, None)}
    assert (result["segments"][segment.code], result["pinned"][segment.code]) == (2, 0)
    db.session.rollback()


def test_adding_again_is_skipped_and_a_deleted_rule_leaves_the_pin(bank, segment_of):
    [customer] = bank.customers(1)
    segment = segment_of({"op": "or", "items": []})
    rule = _adding_rule(bank, segment)
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:first")
    outcome = engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:again")
    db.session.rollback()
    assert outcome["acted"] == 0 and outcome["skipped"] == 1
    assert db.session.scalar(select(func.count()).select_from(SegmentMembership).where(
        SegmentMembership.segment_id == segment.id)) == 1


@pytest.fixture
def bm1_edits_segments(app):
    """Branch managers granted editing segments for one test (a bank may do so): a user who
    edits a segment but sees one branch only."""
    sm = app.appbuilder.sm
    with app.app_context():
        sm.add_permission_role(sm.find_role("BranchManager"),
                               sm.find_permission_view_menu("can_write", "Segment"))
        db.session.remove()
    yield
    with app.app_context():
        sm.del_permission_role(sm.find_role("BranchManager"),
                               sm.find_permission_view_menu("can_write", "Segment"))
        db.session.remove()


def test_pins_obey_the_record_scope(bank, segment_of, signed_in, bm1_edits_segments):
    """bm1 (branch B1) sees and removes the pin of a B1 customer only; a B2 customer's pin is
    neither listed nor removable (404, the pin stays); rm1, who may not edit, removes none."""
    [own] = bank.customers(1, branch="B1", owner="rm1")
    [other] = bank.customers(1, branch="B2", owner="rm3")
    segment = segment_of({"op": "or", "items": []})
    rule = _adding_rule(bank, segment)
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:scope")
    db.session.rollback()
    assert set(_rows(segment.id)) == {own, other}

    bm1 = signed_in("bm1")
    page = bm1.get(f"/segments/show/{segment.id}").get_data(as_text=True)
    assert f'data-customer="{own}"' in page and f'data-customer="{other}"' not in page
    assert 'id="pinned-members">1<' in page
    assert _unpin(bm1, segment.id, other).status_code == 404
    rm1 = signed_in("rm1")
    assert "crm-unpin" not in rm1.get(f"/segments/show/{segment.id}").get_data(as_text=True)
    own_form = f"/segments/override/{bank.world.customers['c_rm1']}"
    assert _unpin(rm1, segment.id, own, own_form).status_code == 404
    db.session.rollback()
    assert set(_rows(segment.id)) == {own, other}
    assert _unpin(bm1, segment.id, own).status_code == 302
    db.session.rollback()
    assert set(_rows(segment.id)) == {other}


def _stored(segment_id) -> tuple:
    """(member_count, pinned_count, today's counted members, today's counted pinned), as
    stored: what the screens and the counts over time read between two refreshes."""
    db.session.rollback()
    segment = db.session.get(Segment, segment_id)
    db.session.refresh(segment)
    count = db.session.get(SegmentCount, (segment_id, utcnow().date()))
    return (segment.member_count, segment.pinned_count,
            *((count.count, count.pinned) if count is not None else (None, None)))


def _as_refreshed(segment, matched_ids):
    """The segment as the last refresh left it (committed: a committed refresh would re-tier
    the whole test bank): its matched customers as rule rows, its figures, today's count."""
    now = utcnow()
    for pk in matched_ids:
        db.session.add(SegmentMembership(segment_id=segment.id, customer_id=pk, since=now))
    segment = db.session.get(Segment, segment.id)
    segment.member_count, segment.pinned_count, segment.refreshed_at = (
        len(matched_ids), 0, now)
    db.session.add(SegmentCount(segment_id=segment.id, day=now.date(), count=len(matched_ids),
                                pinned=0))
    db.session.commit()


def test_pins_move_the_stored_figures_at_once(bank, segment_of, signed_in):
    """Between two refreshes, a rule pinning A (matched) and B (not matched) and the screen
    removing the pins move the stored member and pinned counts (and today's count) right
    away, to what a refresh would store."""
    [a] = bank.customers(1, risk_tolerance="C2")
    [b] = bank.customers(1, risk_tolerance="C4")
    segment = segment_of({"op": "and", "items": [
        *bank.conditions()["items"],
        {"field": "customer.risk_tolerance", "op": "eq", "value": "C2"}]})
    result = _refresh()
    assert (result["segments"][segment.code], result["pinned"][segment.code]) == (1, 0)
    db.session.rollback()
    _as_refreshed(segment, [a])
    assert _stored(segment.id) == (1, 0, 1, 0)

    rule = _adding_rule(bank, segment)
    outcome = engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:move")
    assert outcome["acted"] == 2
    assert _stored(segment.id) == (2, 2, 2, 2)  # A was a member already, B joins
    result = _refresh()
    assert (result["segments"][segment.code], result["pinned"][segment.code]) == (2, 2)
    db.session.rollback()

    senior = signed_in("senior")
    assert _unpin(senior, segment.id, b).status_code == 302
    assert _stored(segment.id) == (1, 1, 1, 1)  # B leaves
    assert _unpin(senior, segment.id, a).status_code == 302
    assert _stored(segment.id) == (1, 0, 1, 0)  # A stays, matched
    result = _refresh()
    assert (result["segments"][segment.code], result["pinned"][segment.code]) == (1, 0)
    db.session.rollback()


def test_a_segment_never_refreshed_gets_no_figures_from_a_pin(bank, segment_of):
    [customer] = bank.customers(1)
    segment = segment_of({"op": "or", "items": []})
    rule = _adding_rule(bank, segment)
    engine.run_rule(db.session, rule.id, trigger="manual", occurrence="manual:unrefreshed")
    assert _rows(segment.id) == {customer: ("added", False, rule.id)}
    assert _stored(segment.id) == (None, None, None, None)
