"""An export request is decided only by a checker whose own record scope covers what the
request reaches (the requester's record scope), for every pair of roles that may ask and decide,
and the cover is checked again when the approval is used."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import delete, select

from backoffice.extensions import db
from models import Customer, Staff
from models.imports import ExportRequest
from tests.customers.test_exports import last_export
from tests.imports.test_export_requests import decide, fresh
from tests.support.web import PASSWORD, csrf_token
from tests.support.world import ACCEPTED_AT, make_prc_id

UNSCOPED = {"crm_unscoped": True}


def ask(app, client, url: str = "/customers/export/csv") -> ExportRequest:
    """Ask for an export of the user's whole customer list (above the test's cap of 0)."""
    response = client.get(url)
    assert response.status_code == 302
    form_url = response.headers["Location"]
    assert "/exportrequests/ask" in form_url
    sent = client.post(form_url, data={"csrf_token": csrf_token(client, form_url),
                                       "reason": "审批范围测试"})
    assert sent.status_code == 302
    with app.app_context():
        entry = db.session.scalars(select(ExportRequest).order_by(
            ExportRequest.id.desc())).first()
        db.session.expunge(entry)
    return entry


@pytest.fixture
def scratch(app, world):
    """Relationship managers of branch B1 made for one test, with books placed where the test
    says (``make("B2")``: one customer in branch B2); all removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    made_staff, made_customers = [], []

    def make(*book_branches: str) -> str:
        serial = len(made_staff) + 1
        username = f"rmx{tag}{serial}"
        with app.app_context():
            sm = app.appbuilder.sm
            user = sm.add_user(username=username, first_name=username, last_name="测试",
                               email=f"{username}@example.com",
                               role=sm.find_role("RelationshipManager"), password=PASSWORD)
            user.branch_id = world.branches["B1"]
            user.confidentiality_accepted_at = ACCEPTED_AT
            for n, branch in enumerate(book_branches, start=1):
                number = int(tag, 16) % 500 + serial * 10 + n
                birth = dt.date(1960, 1 + number % 12, 1 + number % 28)
                customer = Customer(
                    customer_no=f"X{tag}{serial}{n}", name=f"审批范围{tag}{serial}{n}",
                    customer_type="individual", id_type="PRC_ID",
                    id_number=make_prc_id(birth, 400 + number), branch_id=world.branches[
                        branch], owner_id=user.id, status="active", custom_fields={},
                    risk_tolerance="C3", tier="mass")
                db.session.add(customer)
                db.session.flush()
                made_customers.append(customer.id)
            made_staff.append(user.id)
            db.session.commit()
        return username

    yield make
    with app.app_context():
        db.session.remove()
        db.session.execute(delete(ExportRequest).where(
            ExportRequest.requested_by_id.in_(made_staff)))
        db.session.execute(delete(Customer).where(Customer.id.in_(made_customers))
                           .execution_options(**UNSCOPED))
        db.session.commit()
        for user_id in made_staff:
            user = db.session.get(Staff, user_id)
            user.roles = []
            db.session.delete(user)
        db.session.commit()


def to_decide(page: str) -> set[int]:
    """The ids of the requests waiting for this user's decision: the first cell of each row of
    that table (other requests' cells, a row count equal to an id, are not ids)."""
    start = page.find('id="export-requests-to-decide"')
    if start < 0:
        return set()
    table = page[start:page.index("</table>", start)]
    return {int(pk) for pk in re.findall(r"<tr>\s*<td>(\d+)</td>", table)}


def requester_name(scratch, kind: str) -> str:
    """A requester whose scope reaches: B1 only, B2 only (an RM of B1 whose book is in B2),
    both branches, the whole of B1 (a branch manager) or the whole bank."""
    return {"rm_b1": "rm1", "rm_b2": "rm3", "rm_of_b1_book_in_b2": None,
            "rm_book_in_both": None, "bm_b1": "bm1", "senior": "senior"}[kind] or (
        scratch("B2") if kind == "rm_of_b1_book_in_b2" else scratch("B1", "B2"))


# requester kind -> the deciders who may decide it (of senior, bm1, bm2)
MATRIX = {
    "rm_b1": {"senior", "bm1"},
    "rm_b2": {"senior", "bm2"},
    "rm_of_b1_book_in_b2": {"senior", "bm2"},
    "rm_book_in_both": {"senior"},
    "bm_b1": {"senior"},
    "senior": set(),  # a request for the whole bank: only another scope "all" (none here)
}


@pytest.mark.parametrize("kind", list(MATRIX))
@pytest.mark.parametrize("decider", ["senior", "bm1", "bm2"])
def test_each_decider_approves_only_requests_its_scope_covers(app, world, client_as, capped,
                                                              scratch, kind, decider):
    """Through the real screens: the request is listed for, and approvable by, exactly the
    deciders whose scope covers the requester's; the others get a 404 and it stays pending."""
    username = requester_name(scratch, kind)
    entry = ask(app, client_as(username))
    allowed = decider in MATRIX[kind]
    listed = client_as(decider).get("/exportrequests/")
    assert listed.status_code == 200
    assert (entry.id in to_decide(listed.get_data(as_text=True))) is allowed
    response = decide(client_as(decider), entry.id, "approve")
    stored = fresh(app, entry.id)
    if allowed:
        assert response.status_code == 302
        assert stored.status == "approved" and stored.decided_by_id == world.staff[decider]
    else:
        assert response.status_code == 404 and stored.status == "pending"


def test_rejecting_needs_the_same_cover(app, world, client_as, capped, scratch):
    entry = ask(app, client_as(scratch("B2")))
    assert decide(client_as("bm1"), entry.id, "reject").status_code == 404
    assert fresh(app, entry.id).status == "pending"
    assert decide(client_as("bm2"), entry.id, "reject").status_code == 302
    assert fresh(app, entry.id).status == "rejected"


def test_an_approval_no_longer_covered_is_refused_at_download(app, world, client_as, capped,
                                                              scratch):
    """bm1 approved while the book was in B1; the book then moved to B2: the download is
    refused (nothing exported, the approval not spent), and allowed again once it is back."""
    username = scratch("B1")
    requester = client_as(username)
    entry = ask(app, requester)
    assert decide(client_as("bm1"), entry.id, "approve").status_code == 302

    def move_book(branch: str) -> None:
        with app.app_context():
            user_id = db.session.scalar(select(Staff.id).where(Staff.username == username))
            for customer in db.session.scalars(select(Customer).where(
                    Customer.owner_id == user_id).execution_options(**UNSCOPED)):
                customer.branch_id = world.branches[branch]
            db.session.commit()

    before = last_export(app)
    move_book("B2")
    refused = requester.get(f"/exportrequests/download/{entry.id}")
    assert refused.status_code == 302 and "/exportrequests" in refused.headers["Location"]
    page = requester.get("/exportrequests/").get_data(as_text=True)
    assert f"/exportrequests/download/{entry.id}" not in page
    assert (last_export(app).id if last_export(app) else None) == (
        before.id if before else None)
    assert fresh(app, entry.id).status == "approved"
    move_book("B1")
    target = requester.get(f"/exportrequests/download/{entry.id}").headers["Location"]
    assert "export_request" in target
    assert requester.get(target).status_code == 200
    assert fresh(app, entry.id).status == "used"


def test_covers_by_scope_kind(app, world, scratch):
    """The rule itself, for the scope kinds roles may hold (including none)."""
    from backoffice.imports.export_requests import covers
    from backoffice.security.scopes import NOTHING, UNRESTRICTED, RecordScope

    b1, b2 = world.branches["B1"], world.branches["B2"]
    with app.test_request_context():
        rm1 = RecordScope("own", user_id=world.staff["rm1"], branch_id=b1)
        assert covers(UNRESTRICTED, UNRESTRICTED) and covers(UNRESTRICTED, rm1)
        assert covers(RecordScope("branch", branch_id=b1), rm1)
        assert not covers(RecordScope("branch", branch_id=b2), rm1)
        assert not covers(RecordScope("branch", branch_id=b1), UNRESTRICTED)
        assert not covers(RecordScope("branch", branch_id=b1), RecordScope("branch",
                                                                           branch_id=b2))
        assert not covers(RecordScope("branch", branch_id=None), RecordScope("branch",
                                                                             branch_id=None))
        assert not covers(NOTHING, rm1) and not covers(RecordScope("branch", branch_id=b1),
                                                       NOTHING)
        assert covers(rm1, rm1)
        assert not covers(rm1, RecordScope("branch", branch_id=b1))  # c_rm2 is not rm1's
