"""Put a shared table back as it was after a test that cannot help changing all of it.

Most tests plant rows of their own and remove those. A few run code that works on the whole
bank (the scoring job scores every active customer, overwriting the scores other tests planted
on their customers) or need a table empty for a moment (the home page's "never computed" state
reads the whole summary table). Those tests take a :func:`snapshot` of the table before and
:func:`put_back` afterwards: the rows added since are removed by id, rows changed are written
back column for column, rows removed are inserted again with their ids. Clearing the table and
recomputing it would not do: a recomputation drops what other fixtures planted and changes
the figures their tests hold.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

CHUNK = 500  # ids per DELETE ... IN (...): well under SQLite's bound-parameter limit


@dataclass
class Snapshot:
    table: Table
    rows: dict  # primary key -> {column: value}


def snapshot(session, table: Table) -> Snapshot:
    """Every row of ``table`` (a single integer primary key ``id``), read unscoped."""
    rows = {row["id"]: dict(row) for row in session.execute(
        select(table).execution_options(crm_unscoped=True)).mappings()}
    return Snapshot(table, rows)


def take_away(session, kept: Snapshot) -> None:
    """Remove the snapshot's rows (in the caller's transaction), for a test that needs the
    table empty; :func:`put_back` returns them."""
    _delete(session, kept.table, list(kept.rows))


def _delete(session, table: Table, ids: list) -> None:
    for start in range(0, len(ids), CHUNK):
        session.execute(delete(table).where(table.c.id.in_(ids[start:start + CHUNK])))


def put_back(session, kept: Snapshot) -> None:
    """Make ``kept.table`` hold exactly the snapshot's rows again (in the caller's
    transaction): rows added since the snapshot go, changed rows get their old values back,
    removed rows return with their old ids."""
    table = kept.table
    now = {row["id"]: dict(row) for row in session.execute(
        select(table).execution_options(crm_unscoped=True)).mappings()}
    _delete(session, table, [pk for pk in now if pk not in kept.rows])
    changed = [row for pk, row in kept.rows.items() if pk in now and now[pk] != row]
    if changed:
        columns = [column.name for column in table.c if column.name != "id"]
        session.execute(
            update(table).where(table.c.id == bindparam("old_id"))
            .values({name: bindparam(f"old_{name}") for name in columns}),
            [{"old_id": row["id"], **{f"old_{name}": row[name] for name in columns}}
             for row in changed])
    gone = [row for pk, row in kept.rows.items() if pk not in now]
    if gone:
        session.execute(insert(table), gone)
    assert session.scalar(select(func.count()).select_from(table)) == len(kept.rows)
