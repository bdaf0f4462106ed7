"""Branches and the staff who work in them, with predictable logins.

Every role the back office knows (except Admin, which ``flask crm init`` creates) gets demo
users so that each screen and record scope can be tried at once: per branch one branch manager,
relationship managers at about one per 150 customers (at least two, so "own book" scoping is
visible), and two tellers; bank-wide two senior managers (a campaign one of them writes needs
the other's approval: maker-checker), one operator and one auditor.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from backoffice.demo.identity import HOME_DISTRICTS, STREETS, office_address
from backoffice.demo.names import given_name

STAFF_ROLES = (
    "SeniorManager", "BranchManager", "RelationshipManager", "Teller", "Operator", "Auditor",
)
CUSTOMERS_PER_RM = 150
CUSTOMERS_PER_BRANCH = 2000
MAX_BRANCHES = 200
EMAIL_DOMAIN = "jinling-bank.example"


@dataclass
class Org:
    """The generated organisation: rows to insert plus the lookups customer generation needs."""

    branches: list[dict] = field(default_factory=list)
    staff: list[dict] = field(default_factory=list)
    user_roles: list[dict] = field(default_factory=list)
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    branch_ids: list[int] = field(default_factory=list)
    branch_weights: list[float] = field(default_factory=list)
    branch_district: dict[int, str] = field(default_factory=dict)
    rms: dict[int, list[int]] = field(default_factory=dict)
    tellers: dict[int, list[int]] = field(default_factory=dict)


def branch_count(customers: int) -> int:
    """About 2,000 customers per branch, between 3 and 200 branches."""
    return min(MAX_BRANCHES, max(3, round(customers / CUSTOMERS_PER_BRANCH)))


def _branch_names(count: int) -> list[tuple[str, str]]:
    """(district, name) pairs: the head-office branch, then one per district, then by street."""
    names = [("鼓楼区", "南京分行营业部")]
    names += [(d, d[:-1] + "支行") for d, _code in HOME_DISTRICTS]
    streets = [(d, d[:-1] + s + "支行") for s in STREETS for d, _code in HOME_DISTRICTS]
    return (names + streets)[:count]


def build_org(rng, fake, ids, *, customers, roles, password, password_hash, today) -> Org:
    """Branches, staff and their role links; ``ids`` hands out primary keys."""
    org = Org()
    names = _branch_names(branch_count(customers))
    if len(names) < branch_count(customers):  # pragma: no cover - 11 * 32 + 12 names exist
        raise ValueError("not enough branch names")
    for number, (district, name) in enumerate(names, start=1):
        branch_id = ids.take("branch")
        org.branches.append({
            "id": branch_id, "code": f"JL{number:03d}", "name": name, "city": "南京",
            "address": office_address(rng, district),
            "phone": f"025-{rng.randint(5000_0000, 8999_9999)}",
        })
        org.branch_ids.append(branch_id)
        org.branch_weights.append(rng.uniform(0.6, 1.6))
        org.branch_district[branch_id] = district
    total_weight = sum(org.branch_weights)

    def add(username: str, role: str, branch: dict, rng=rng, last_name=None) -> int:
        staff_id = ids.take("ab_user")
        joined = dt.datetime.combine(today - dt.timedelta(days=rng.randint(30, 3650)), dt.time(1))
        org.staff.append({
            "id": staff_id, "first_name": given_name(rng, rng.choice("MF"), joined.year - 30),
            "last_name": last_name or fake.last_name(),
            "username": username, "password": password_hash, "active": True,
            "email": f"{username}@{EMAIL_DOMAIN}", "last_login": None, "login_count": 0,
            "fail_login_count": 0, "created_on": joined, "changed_on": joined,
            "created_by_fk": None, "changed_by_fk": None, "branch_id": branch["id"],
            "employee_no": f"E{staff_id:07d}",
            "security_training_on": today - dt.timedelta(days=rng.randint(0, 420)),
        })
        org.user_roles.append({"id": ids.take("ab_user_role"), "user_id": staff_id,
                               "role_id": roles[role]})
        org.logins.append((username, password, role, branch["name"]))
        return staff_id

    head_office = org.branches[0]
    for username, role in (("senior", "SeniorManager"), ("operator", "Operator"),
                           ("auditor", "Auditor")):
        add(username, role, head_office)
    rm_counts = [
        max(2, round(customers * w / total_weight / CUSTOMERS_PER_RM)) for w in org.branch_weights
    ]
    b_width = max(2, len(str(len(org.branches))))
    r_width = max(2, len(str(max(rm_counts))))
    for number, (branch, rm_count) in enumerate(zip(org.branches, rm_counts), start=1):
        tag = f"{number:0{b_width}d}"
        add(f"bm{tag}", "BranchManager", branch)
        org.rms[branch["id"]] = [
            add(f"rm{tag}_{k:0{r_width}d}", "RelationshipManager", branch)
            for k in range(1, rm_count + 1)
        ]
        org.tellers[branch["id"]] = [
            add(f"teller{tag}_{k:02d}", "Teller", branch) for k in (1, 2)
        ]
    # The second senior manager comes last and draws from a generator of its own: the rest of
    # the demo bank at a given seed stays what it was without it (tests train on that data).
    own = random.Random(f"senior2-{customers}")
    add("senior2", "SeniorManager", head_office, rng=own, last_name=own.choice("王李张刘陈杨"))
    return org
