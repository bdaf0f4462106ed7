"""Column helpers shared by the model modules.

Money is ``Numeric(18, 2)`` and never float; times are stored as naive UTC (``utcnow``) and
converted to the display zone only when shown.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Numeric, String, event, text
from sqlalchemy.dialects.postgresql import JSONB

Money = Numeric(18, 2, asdecimal=True)

# JSONB (with GIN indexes) on PostgreSQL, plain JSON elsewhere.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class CustomerRecord:
    """Marks a model whose rows each belong to one customer (its ``customer_id`` column).

    Why a marker: the record scopes (``backoffice.security.scopes``) restrict every ORM query over
    these models to the viewer's customers, and they find the models by this class rather than
    by a list kept by hand, which a new table would silently miss. A test fails for any table with
    a ``customer_id`` column (or a foreign key to ``customer``) whose model is not marked, unless
    it names the table among the few exempt ones with the reason.
    """


def identifier(length: int) -> String:
    """A string column of machine-made identifiers (record uids, blind indexes, customer
    numbers), compared byte by byte: collation ``"C"`` on PostgreSQL (migration 0019).

    Why: they are matched for equality, kept unique and looked up by prefix; sorted, if at all,
    as codes, for which byte order (digits, then capitals) is the natural one. Under a locale's
    collation every comparison inside their indexes went through the C library's (or ICU's)
    collation: a 100,000-customer import cost the server 0.3-0.4 s more CPU on a ``C.UTF-8``
    database (pairs run alternately), and an index of digests filled about 12 % slower there
    than under ``"C"``, 25 % slower under a Chinese ICU collation.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def lz4_available(bind) -> bool:
    """Whether this database can compress column values with lz4: PostgreSQL 14 or newer built
    with it (``default_toast_compression`` offers it). The migrations that keep large values
    with lz4 (0018, 0020) change nothing where it cannot (SQLite, an older server)."""
    if bind.dialect.name != "postgresql":
        return False
    return bool(bind.execute(text(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)")).scalar())


def utcnow() -> dt.datetime:
    """The current time as naive UTC, the form every DateTime column stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def stamp_when_switched_on(flag, since_name: str) -> None:
    """Set ``since_name`` to now whenever the boolean attribute ``flag`` goes from off to on.

    Why: a rule or a webhook acts on the events that occurred while it was on. The outbox keeps
    events other consumers still want, so without the time it was switched on, one switched on
    today would act on last week's events. A listener rather than a line in each service
    function, so that every path that switches it on (forms, approval, CLI, tests) stamps it.
    """
    def _stamp(target, value, oldvalue, _initiator):
        if value and oldvalue is not True:
            setattr(target, since_name, utcnow())
        return value

    event.listen(flag, "set", _stamp, retval=True)


# Indexes that live in the database but not in the models, so that autogenerate must leave
# them alone (``flask db migrate`` would otherwise emit drops, and the migrations test would
# report them): the custom-field indexes the field screens create and drop at runtime
# (``backoffice.fields.service``: unique ``ux_cf_*`` and range ``ix_cf_*``), and the
# PostgreSQL-only expression index for name-prefix search made by migration 0015.
RUNTIME_INDEX_PREFIXES = ("ux_cf_", "ix_cf_")
DATABASE_ONLY_INDEXES = frozenset({"ix_customer_name_prefix"})


def autogenerate_includes(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic ``include_object``: skip the indexes above, compare everything else."""
    if type_ == "index" and name and (name.startswith(RUNTIME_INDEX_PREFIXES)
                                      or name in DATABASE_ONLY_INDEXES):
        return False
    return True
