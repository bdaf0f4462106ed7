"""A small real job, kept as the pattern for pipelines and used by the job plumbing's tests.

It shows the shape every job follows: plain arguments in, the ``progress`` reporter from the
runner, keyset-paginated batches so memory stays flat on a large table, progress once per batch,
and a JSON result.
"""
from __future__ import annotations

import os
import socket
from collections import Counter

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.extensions import db
from models.customers import Customer


def count_customers(*, progress, chunk: int = 500) -> dict:
    """Count customers by status, walking the table in id order ``chunk`` rows at a time.

    The result names the process that ran it, which is how the tests prove a job ran in a work
    horse and not in the process that enqueued it.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    total = db.session.scalar(select(func.count(Customer.id)))
    progress.update(0, total=total, message=_l("Counting customers"))
    by_status: Counter = Counter()
    done, last_id = 0, 0
    while True:
        rows = db.session.execute(
            select(Customer.id, Customer.status)
            .where(Customer.id > last_id)
            .order_by(Customer.id)
            .limit(chunk)
        ).all()
        if not rows:
            break
        by_status.update(status for _, status in rows)
        done, last_id = done + len(rows), rows[-1].id
        progress.update(done, total=max(total, done), message=_l("Counted %(n)s customers", n=done))
    # Rows added or removed meanwhile: what the walk saw is the answer.
    progress.update(done, total=done, message=_l("Counted %(n)s customers", n=done))
    return {
        "customers": done,
        "by_status": dict(by_status),
        "ran_in": {"pid": os.getpid(), "host": socket.gethostname()},
    }
