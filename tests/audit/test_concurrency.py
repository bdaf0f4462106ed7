"""Concurrent writers never fork the chain: appends are serialised on the head row.

Threads write through ``record`` (own short transactions) and through the session hook (rows in
the business transaction) at once, on the suite's database file or PostgreSQL server; afterwards
every id is used once and the chain verifies.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from backoffice.audit import chain
from backoffice.audit.log import record
from backoffice.extensions import db
from models.audit import AuditLog
from tests.audit.conftest import last_id

THREADS = 6
PER_THREAD = 15


def _writer(app, index, errors, barrier):
    from models import Branch

    try:
        with app.app_context():
            barrier.wait()
            for n in range(PER_THREAD):
                if n % 3 == 2:
                    # A business write: its log row is appended inside the same transaction.
                    db.session.add(Branch(code=f"T{index:02d}{n:03d}", name=f"并发 {index}-{n}"))
                    db.session.commit()
                else:
                    record("view_customer", entity="Customer", entity_id=n,
                           detail={"thread": index, "n": n})
            db.session.remove()
    except Exception as error:
        errors.append(repr(error))


def test_concurrent_writers_do_not_fork_the_chain(app):
    start = last_id(app)
    errors: list = []
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=_writer, args=(app, i, errors, barrier))
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    table = AuditLog.__table__
    with app.app_context(), db.engine.connect() as connection:
        new = connection.execute(
            select(func.count(), func.count(func.distinct(table.c.prev_hash)))
            .where(table.c.id > start)).one()
        result = chain.verify(connection)
    assert new[0] == THREADS * PER_THREAD
    assert new[1] == new[0], "two rows share a predecessor: the chain forked"
    assert result.ok, result
