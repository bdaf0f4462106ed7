"""Who may import which kind of file: one permission per group of kinds (``config/roles.py``).

Customer data (customers, accounts, transactions, interactions) is the operators' work
(``can_import_records``); the bank's set-up (branches, products: ``can_import_org``) and its
staff (``can_import_staff``: users and their roles, an access decision) are the administrator's.
Asked when a file is uploaded, by the screen's kind choices and again when a batch runs (a batch
acts with its uploader's rights), never by comparing role names.
"""
from __future__ import annotations

from backoffice.security.permissions import has_permission
from backoffice.security.policy import IMPORT_ORG as ORG
from backoffice.security.policy import IMPORT_RECORDS as RECORDS
from backoffice.security.policy import IMPORT_STAFF as STAFF
from backoffice.security.policy import IMPORT_VIEW as VIEW
PERMISSION = {"customers": RECORDS, "accounts": RECORDS, "transactions": RECORDS,
              "interactions": RECORDS, "branches": ORG, "products": ORG, "staff": STAFF}


def may_import(user, kind: str) -> bool:
    """Whether ``user`` may import files of ``kind``; the system (no user: the CLI) may."""
    if user is None:
        return True
    permission = PERMISSION.get(kind)
    return permission is not None and has_permission(user, permission, VIEW)


def importable(user, kinds) -> list[str]:
    return [kind for kind in kinds if may_import(user, kind)]
