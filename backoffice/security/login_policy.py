"""Account lockout: too many failed logins lock the account for a while.

Why here: FAB counts ``fail_login_count`` but never locks (DESIGN pitfall 7). The security
manager's ``auth_user_db``, which both the login form and ``POST /api/v1/security/login`` call,
asks this module what to do, so the rule holds on every login path.

Rules (settings in ``config.settings.BaseConfig``):

* ``CRM_LOGIN_MAX_FAILURES`` (5) wrong passwords in a row lock the account for
  ``CRM_LOCKOUT_MINUTES`` (30); a success resets the count.
* While locked, every attempt is refused in the same words and the same time as a wrong
  password, whether or not the password was right: a guesser learns nothing.
* When the lock has run out, the count starts again from zero.
* Failed logins and lockouts go to the operation log (``login_failed``, ``lockout``).

Times are naive UTC, like every DateTime column.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from models.base import utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT_MINUTES = 30


def max_failures() -> int:
    return int(current_app.config["CRM_LOGIN_MAX_FAILURES"])


def lockout_period() -> dt.timedelta:
    return dt.timedelta(minutes=float(current_app.config.get("CRM_LOCKOUT_MINUTES",
                                                             DEFAULT_LOCKOUT_MINUTES)))


def is_locked(user, now: dt.datetime | None = None) -> bool:
    """Whether ``user`` is locked out right now."""
    until = getattr(user, "locked_until", None)
    return until is not None and until > (now or utcnow())


def expire_lock(user, now: dt.datetime | None = None) -> bool:
    """Clear a lock that has run out (and its failure count); True if there was one."""
    until = getattr(user, "locked_until", None)
    if until is None or until > (now or utcnow()):
        return False
    user.locked_until = None
    user.fail_login_count = 0
    return True


def after_failure(user, now: dt.datetime | None = None) -> bool:
    """Lock ``user`` if the failure just counted reached the limit; True if it was locked now.

    Call after FAB incremented ``fail_login_count``; the caller commits.
    """
    if (user.fail_login_count or 0) < max_failures():
        return False
    user.locked_until = (now or utcnow()) + lockout_period()
    return True


def unlock(user) -> None:
    """An administrator's unlock: the account may log in again at once."""
    user.locked_until = None
    user.fail_login_count = 0


def audit(action: str, *, actor=None, user=None, detail: dict | None = None) -> None:
    """Write a login event to the operation log, never failing the login because of it: a
    broken log must not lock everybody out (the failure itself is logged)."""
    from backoffice.audit.log import record

    try:
        record(action, entity="Staff" if user is not None else None,
               entity_id=getattr(user, "id", None), detail=detail, actor=actor)
    except Exception:
        log.exception("could not record %s in the operation log", action)
