"""The review use cases (backoffice.review.service), without screens: who may propose, approve,
reject and withdraw, what applies and what stays as it was."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from backoffice.extensions import db
from backoffice.review import service
from models import ChangeRequest, Customer


def fresh(model, pk):
    db.session.expire_all()
    return db.session.get(model, pk)


def test_teller_change_of_mobile_waits_and_the_record_stays(ctx, staff, make_customer):
    """A maker's change to a reviewed field is a request; the live record is untouched."""
    cid = make_customer(owner="rm2", teller="teller1")
    customer = fresh(Customer, cid)
    before = (customer.mobile, customer.version)
    change = service.change_customer(staff("teller1"), cid, {"mobile": "13912345678"})
    assert change is not None and change.status == "pending" and change.kind == "update"
    assert change.fields == ["mobile"] and change.base_version == before[1]
    customer = fresh(Customer, cid)
    assert (customer.mobile, customer.version) == before


def test_proposed_values_are_encrypted_and_bound_to_their_request(ctx, staff, make_customer):
    """No plaintext mobile in the table; a payload copied onto another request does not open."""
    from models.crypto import DecryptionError

    cid = make_customer(owner="rm1")
    first = service.change_customer(staff("rm1"), cid, {"mobile": "13955556666"})
    second = service.change_customer(staff("rm1"), cid, {"name": "改名"})
    raw = db.session.execute(text("SELECT payload FROM change_request WHERE id = :id"),
                             {"id": first.id}).scalar()
    assert "13955556666" not in raw and raw.startswith("v1.")
    db.session.execute(text("UPDATE change_request SET payload = :p WHERE id = :id"),
                       {"p": raw, "id": second.id})
    db.session.commit()
    with pytest.raises(DecryptionError):
        _ = fresh(ChangeRequest, second.id).values


def test_non_reviewed_change_by_a_maker_applies_directly(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    version = fresh(Customer, cid).version
    assert service.change_customer(staff("rm1"), cid, {"occupation": "教师"}) is None
    customer = fresh(Customer, cid)
    assert customer.occupation == "教师" and customer.version == version + 1


def test_branch_manager_approves_and_the_change_applies(ctx, staff, make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    change = service.change_customer(staff("teller1"), cid,
                                     {"mobile": "13912340000", "risk_tolerance": "C4"})
    version = fresh(Customer, cid).version
    approved = service.approve(staff("bm1"), change.id)
    assert approved.status == "approved" and approved.checker_id == staff("bm1").id
    assert approved.decided_at is not None
    customer = fresh(Customer, cid)
    assert (customer.mobile, customer.risk_tolerance) == ("13912340000", "C4")
    assert customer.version == version + 1


def test_new_customer_exists_only_after_approval(ctx, staff, world):
    import datetime as dt

    from tests.support.world import make_prc_id

    birth = dt.date(1991, 3, 4)
    values = {"name": "待审新客户", "customer_type": "individual", "gender": "M",
              "birth_date": birth.isoformat(), "id_type": "PRC_ID",
              "id_number": make_prc_id(birth, 401), "mobile": "13811112222",
              "branch_id": world.branches["B1"], "owner_id": world.staff["rm1"],
              "status": "active"}
    change = service.propose_create(staff("rm1"), values)
    assert change.kind == "create" and change.customer_id is None
    assert db.session.query(Customer).filter(Customer.name == "待审新客户").count() == 0
    approved = service.approve(staff("bm1"), change.id)
    created = fresh(Customer, approved.customer_id)
    assert created.name == "待审新客户" and created.owner_id == world.staff["rm1"]
    assert created.customer_no.startswith("C") and created.mobile == "13811112222"


def test_self_approval_is_refused(ctx, staff, make_staff, make_customer):
    """A maker later given approval rights still cannot approve their own request."""
    name, _ = make_staff("RelationshipManager", branch="B1")
    cid = make_customer(owner="rm1")
    db.session.get(Customer, cid).owner_id = staff(name).id
    db.session.commit()
    change = service.change_customer(staff(name), cid, {"name": "自己批准"})
    maker = staff(name)
    maker.roles.append(db.session.query(type(maker.roles[0])).filter_by(
        name="BranchManager").one())
    db.session.commit()
    with pytest.raises(service.ReviewRefused) as refused:
        service.approve(staff(name), change.id)
    assert refused.value.status == 403 and "maker" in refused.value.errors
    assert fresh(Customer, cid).name != "自己批准"
    assert fresh(ChangeRequest, change.id).status == "pending"


def test_stale_request_is_refused_and_nothing_applies(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"mobile": "13700000001"})
    assert service.change_customer(staff("bm1"), cid, {"mobile": "13700000002"}) is None
    with pytest.raises(service.ReviewRefused) as refused:
        service.approve(staff("bm1"), change.id)
    assert refused.value.status == 409 and "version" in refused.value.errors
    assert fresh(Customer, cid).mobile == "13700000002"
    assert fresh(ChangeRequest, change.id).status == "pending"
    assert service.is_stale(fresh(ChangeRequest, change.id))


def test_other_branch_manager_cannot_see_or_approve(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"name": "外支行"})
    for action in (lambda u: service.get_request(u, change.id),
                   lambda u: service.approve(u, change.id),
                   lambda u: service.reject(u, change.id, "no")):
        with pytest.raises(service.NotVisible):
            action(staff("bm2"))
    assert change.id not in {c.id for c in service.pending_for(staff("bm2"))}
    assert change.id in {c.id for c in service.pending_for(staff("bm1"))}
    assert fresh(ChangeRequest, change.id).status == "pending"


def test_makers_see_their_own_requests_not_others(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"name": "只有我"})
    assert change.id in {c.id for c in service.requests_of(staff("rm1"))}
    with pytest.raises(service.NotVisible):
        service.get_request(staff("rm3"), change.id)
    with pytest.raises(service.ReviewRefused) as refused:  # visible (same book), no right
        service.approve(staff("rm1"), change.id)
    assert refused.value.status == 403


def test_senior_manager_approves_any_branch(ctx, staff, make_customer):
    cid = make_customer(owner="rm3", branch="B2")
    change = service.change_customer(staff("rm3"), cid, {"risk_tolerance": "C1"})
    service.approve(staff("senior"), change.id)
    assert fresh(Customer, cid).risk_tolerance == "C1"


def test_reject_needs_a_reason_and_decides_once(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"name": "被拒"})
    with pytest.raises(service.ReviewRefused) as refused:
        service.reject(staff("bm1"), change.id, "  ")
    assert refused.value.status == 422 and "reason" in refused.value.errors
    service.reject(staff("bm1"), change.id, "证件不符")
    rejected = fresh(ChangeRequest, change.id)
    assert rejected.status == "rejected" and rejected.reason == "证件不符"
    with pytest.raises(service.ReviewRefused) as again:
        service.approve(staff("senior"), change.id)
    assert again.value.status == 409
    assert fresh(Customer, cid).name != "被拒"


def test_only_the_maker_withdraws(ctx, staff, make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    change = service.change_customer(staff("teller1"), cid, {"name": "撤回甲"})
    with pytest.raises(service.ReviewRefused):
        service.withdraw(staff("rm2"), change.id)
    service.withdraw(staff("teller1"), change.id)
    assert fresh(ChangeRequest, change.id).status == "withdrawn"
    with pytest.raises(service.ReviewRefused):
        service.approve(staff("bm1"), change.id)


def test_invalid_proposal_is_refused_with_every_problem(ctx, staff, make_customer):
    cid = make_customer(owner="rm1")
    count = db.session.query(ChangeRequest).count()
    with pytest.raises(service.ReviewRefused) as refused:
        service.change_customer(staff("rm1"), cid, {"mobile": "555", "id_number": "123",
                                                    "name": ""})
    assert {"mobile", "id_number", "name"} <= set(refused.value.errors)
    assert db.session.query(ChangeRequest).count() == count


def test_maker_cannot_propose_moving_a_customer_out_of_their_book(ctx, staff, make_customer,
                                                                 world):
    cid = make_customer(owner="rm1")
    with pytest.raises(service.ReviewRefused) as refused:
        service.change_customer(staff("rm1"), cid, {"owner_id": world.staff["rm3"]})
    assert "customer" in refused.value.errors


def test_approval_is_logged_with_masked_values(ctx, staff, make_customer):
    from models import AuditLog

    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"mobile": "13966667777"})
    service.approve(staff("bm1"), change.id)
    rows = db.session.query(AuditLog).filter(AuditLog.action == "approve",
                                             AuditLog.entity_id == str(change.id)).all()
    row = next(r for r in rows if change.record_uid in r.detail)  # ids are reused after cleanup
    assert row.actor_username == "bm1" and row.customer_id == cid
    assert "13966667777" not in row.detail and "139****7777" in row.detail


def test_concurrent_approvals_apply_once(app, ctx, staff, make_customer, monkeypatch):
    """Two checkers approving the same request at once: one applies, the other is refused and
    applies nothing (the customer's and the request's versions guard the writes)."""
    import threading

    from models import Staff

    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"name": "并发批准"})
    base_version = fresh(Customer, cid).version
    senior_id = staff("senior").id
    original, raced = service._record_errors, []

    def other_checker_approves():
        with app.app_context():
            service.approve(db.session.get(Staff, senior_id), change.id)
            db.session.remove()

    def racing(candidate, scope):
        if not raced:  # between bm1's checks and bm1's write, senior approves and commits
            raced.append(True)
            thread = threading.Thread(target=other_checker_approves)
            thread.start()
            thread.join()
        return original(candidate, scope)

    monkeypatch.setattr(service, "_record_errors", racing)
    with pytest.raises(service.ReviewRefused) as refused:
        service.approve(staff("bm1"), change.id)
    assert raced and refused.value.status == 409
    customer = fresh(Customer, cid)
    assert customer.name == "并发批准" and customer.version == base_version + 1
    decided = fresh(ChangeRequest, change.id)
    assert decided.status == "approved" and decided.checker_id == senior_id


def test_approval_is_all_or_nothing_with_its_log_entry(ctx, staff, make_customer, monkeypatch):
    """If the operation log cannot take the approval, the change does not apply either."""
    import backoffice.audit.log as audit_log

    cid = make_customer(owner="rm1")
    change = service.change_customer(staff("rm1"), cid, {"name": "日志失败"})
    before = fresh(Customer, cid).version

    def broken(*args, **kwargs):
        raise RuntimeError("log unavailable")

    monkeypatch.setattr(audit_log, "record", broken)
    with pytest.raises(RuntimeError):
        service.approve(staff("bm1"), change.id)
    customer = fresh(Customer, cid)
    assert customer.name != "日志失败" and customer.version == before
    assert fresh(ChangeRequest, change.id).status == "pending"


def test_custom_fields_flagged_reviewed_wait_for_review(ctx, staff, make_customer, monkeypatch):
    """The hook for issue 4: a custom field an admin flags "reviewed" is reviewed like name."""
    monkeypatch.setattr(service, "REVIEWED_CUSTOM_FIELD_SOURCES", [lambda entity: ["vip_level"]])
    assert "custom_fields.vip_level" in service.reviewed_fields()
    cid = make_customer(owner="rm1", custom_fields={"vip_level": "silver", "hobby": "茶"})
    other = service.change_customer(staff("rm1"), cid, {
        "custom_fields": {"vip_level": "silver", "hobby": "书法"}})
    assert other is None and fresh(Customer, cid).custom_fields["hobby"] == "书法"
    change = service.change_customer(staff("rm1"), cid, {
        "custom_fields": {"vip_level": "gold", "hobby": "书法"}})
    assert change is not None and fresh(Customer, cid).custom_fields["vip_level"] == "silver"
    service.approve(staff("bm1"), change.id)
    assert fresh(Customer, cid).custom_fields == {"vip_level": "gold", "hobby": "书法"}


def test_create_customer_for_pipelines(ctx, staff, world):
    """The use case an import calls: a checker's new customer exists at once, a maker's waits."""
    import datetime as dt

    from tests.support.world import make_prc_id

    birth = dt.date(1979, 5, 6)

    def values(name, serial):
        return {"name": name, "customer_type": "individual", "birth_date": birth.isoformat(),
                "id_type": "PRC_ID", "id_number": make_prc_id(birth, serial),
                "branch_id": world.branches["B1"], "owner_id": world.staff["rm1"],
                "status": "active"}

    direct = service.create_customer(staff("bm1"), values("行长直建", 431))
    assert isinstance(direct, Customer) and fresh(Customer, direct.id).name == "行长直建"
    filed = service.create_customer(staff("rm1"), values("经理待审", 432))
    assert isinstance(filed, ChangeRequest) and filed.kind == "create"
    assert db.session.query(Customer).filter(Customer.name == "经理待审").count() == 0
    with pytest.raises(service.ReviewRefused) as refused:
        service.create_customer(staff("bm2"), values("跨支行", 433))  # B1 is not bm2's branch
    assert "customer" in refused.value.errors
