"""Resolving the references a chunk names (branch, owner, product, customer, account, staff).

One query per kind of reference per chunk, for the values not yet seen in this batch; answers are
remembered for the rest of the batch (a 100,000-row file names a few dozen branches). Lookups
run outside the record scope: an import is a system job, and the rows it writes are checked
against the data as a whole (a customer number must exist, whoever may see it).
"""
from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, or_, select

from models import Account, Branch, Customer, Product, Staff, crypto

UNSCOPED = {"crm_unscoped": True}


class ReferenceCache:
    """text -> id (or a small tuple) per kind of reference, filled a chunk at a time."""

    def __init__(self, session):
        self.session = session
        self._known: dict[str, dict[str, object]] = {}

    def resolve(self, kind: str, texts: Iterable[str]) -> dict[str, object]:
        """``{text: value}`` for the texts that exist (``None`` values are missing ones)."""
        known = self._known.setdefault(kind, {})
        wanted = {t for t in texts if t and t not in known}
        if wanted:
            found = LOOKUPS[kind](self.session, sorted(wanted))
            for text in wanted:
                known[text] = found.get(text)
        return known

    def get(self, kind: str, text: str):
        return self._known.get(kind, {}).get(text)

    def forget(self, kind: str, texts: Iterable[str]) -> None:
        """Drop answers that this batch has just made stale (customers it created)."""
        known = self._known.get(kind, {})
        for text in texts:
            known.pop(text, None)


def _rows(session, query, params: dict | None = None):
    return session.execute(query.execution_options(**UNSCOPED), params or {}).all()


def _wanted(name: str):
    """An ``IN`` list passed at execution (``{name: [...]}``), not held by the statement:
    a statement's objects are freed by the cycle collector only, which a pass pauses."""
    return bindparam(name, expanding=True)


def _branches(session, texts: list[str]) -> dict:
    found = {}
    for bid, code, name in _rows(session, select(Branch.id, Branch.code, Branch.name).where(
            or_(Branch.code.in_(texts), Branch.name.in_(texts)))):
        for text in texts:
            if text in (code, name):
                found.setdefault(text, bid)
    return found


def _staff(session, texts: list[str]) -> dict:
    found = {}
    for sid, username, number in _rows(session, select(
            Staff.id, Staff.username, Staff.employee_no).where(
            or_(Staff.username.in_(texts), Staff.employee_no.in_(texts)))):
        for text in texts:
            if text in (username, number):
                found.setdefault(text, sid)
    return found


def _products(session, texts: list[str]) -> dict:
    found = {}
    for pid, code, name in _rows(session, select(Product.id, Product.code, Product.name).where(
            or_(Product.code.in_(texts), Product.name.in_(texts)))):
        for text in texts:
            if text in (code, name):
                found.setdefault(text, pid)
    return found


def _customers(session, texts: list[str]) -> dict:
    """Customer number -> id."""
    return {no: cid for cid, no in _rows(session, select(Customer.id, Customer.customer_no)
                                          .where(Customer.customer_no.in_(_wanted("numbers"))),
                                          {"numbers": list(texts)})}


def _accounts(session, texts: list[str]) -> dict:
    """Account number -> (account id, customer id), through the blind index."""
    digests = {crypto.blind_index("account_no", t): t for t in texts}
    digests.pop(None, None)
    rows = _rows(session, select(Account.id, Account.customer_id, Account.account_no_bidx)
                 .where(Account.account_no_bidx.in_(_wanted("digests"))),
                 {"digests": list(digests)})
    return {digests[bidx]: (aid, cid) for aid, cid, bidx in rows}


LOOKUPS = {"branch": _branches, "owner": _staff, "staff": _staff, "product": _products,
           "customer": _customers, "account": _accounts}

MISSING = {
    "branch": _l("No branch has this code or name."),
    "owner": _l("No member of staff has this username or employee number."),
    "staff": _l("No member of staff has this username or employee number."),
    "product": _l("No product has this code or name."),
    "customer": _l("No customer has this customer number."),
    "account": _l("No account has this account number."),
}
