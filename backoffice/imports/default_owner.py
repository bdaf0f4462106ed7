"""Who owns a new customer whose import row names no relationship manager.

A customer without an owner is in nobody's own book: no relationship manager sees it, only the
branch manager and head office. So a new customer whose file gives no owner (no owner column,
or an empty cell) goes to a relationship manager of its branch: the one with the smallest book
of live customers, then the next smallest, so a file of new customers spreads over the branch
rather than landing on one person. A row that names an owner (username or employee number) keeps
it; a branch without an active relationship manager leaves the owner empty (the branch manager
sees the customer and can assign it).

Who owns a book is a grant, not a role's name or scope kind: the holders of ``BOOK_OWNER``
(``config/roles.py``, relationship managers as shipped) in the branch, read from the roles'
grants in the database (``backoffice.security.holders``), so a bank that renames the role or
gives a book to another role moves the default owner with the grant. Tellers serve own
customers too but do not own a book.
"""
from __future__ import annotations

import heapq

from sqlalchemy import and_, func, select

from backoffice.security.holders import holders_of
from config.roles import BOOK_OWNER
from models import Customer, Staff


def book_owners():
    """SQL: ids of the active staff whose roles grant owning a book (any branch)."""
    [(permission, view)] = BOOK_OWNER
    return holders_of(permission, view)


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
                .where(Staff.branch_id.in_(branch_ids), Staff.id.in_(book_owners()))
                .group_by(Staff.id, Staff.branch_id))
        for staff_id, branch_id, size in self.session.execute(
                book.execution_options(crm_unscoped=True)):
            self._books[branch_id].append((int(size), staff_id))
        for heap in self._books.values():
            heapq.heapify(heap)
