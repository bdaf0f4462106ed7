"""Who owns a new customer whose import row names no relationship manager.

A customer without an owner is in nobody's own book: no relationship manager sees it, only the
branch manager and head office. So a new customer whose file gives no owner (no owner column,
or an empty cell) goes to a relationship manager of its branch: the one with the smallest book
of live customers, then the next smallest, so a file of new customers spreads over the branch
rather than landing on one person. A row that names an owner (username or employee number) keeps
it; a branch without an active relationship manager leaves the owner empty (the branch manager
sees the customer and can assign it).

"Relationship manager" is read from the roles as data (``config/roles.py``): a role whose record
scope is its own book and which sees the full profile of its own customers. Tellers serve own
customers too but do not own a book.
"""
from __future__ import annotations

import heapq

from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import and_, func, select

from models import Customer, Staff

BOOK_PERMISSION = ("can_deep_profile_own", "Customer")


def book_owner_roles() -> list[str]:
    """Names of the roles whose members own a book of customers."""
    from config.roles import ROLES

    return [name for name, spec in ROLES.items()
            if spec.get("scope") == "own" and BOOK_PERMISSION in spec.get("permissions", ())]


class OwnerPicker:
    """Hands out owners per branch, smallest book first; one per import batch (it remembers
    what it handed out, so later chunks keep the balance)."""

    def __init__(self, session):
        self.session = session
        self._books: dict[int, list[tuple[int, int]]] = {}  # branch -> heap of (size, staff)

    def owners_for(self, branch_ids: list) -> list:
        """An owner id (or None) for each new customer of the given branches, in order."""
        self._load({b for b in branch_ids if b is not None and b not in self._books})
        picked = []
        for branch_id in branch_ids:
            heap = self._books.get(branch_id)
            if not heap:
                picked.append(None)
                continue
            size, staff_id = heapq.heappop(heap)
            heapq.heappush(heap, (size + 1, staff_id))
            picked.append(staff_id)
        return picked

    def _load(self, branch_ids: set) -> None:
        if not branch_ids:
            return
        for branch_id in branch_ids:
            self._books[branch_id] = []
        c = Customer.__table__
        book = (select(Staff.id, Staff.branch_id, func.count(c.c.id))
                .outerjoin(c, and_(c.c.owner_id == Staff.id, c.c.status != "closed"))
                .where(Staff.active.is_(True), Staff.branch_id.in_(branch_ids),
                       Staff.roles.any(Role.name.in_(book_owner_roles())))
                .group_by(Staff.id, Staff.branch_id))
        for staff_id, branch_id, size in self.session.execute(
                book.execution_options(crm_unscoped=True)):
            self._books[branch_id].append((int(size), staff_id))
        for heap in self._books.values():
            heapq.heapify(heap)
