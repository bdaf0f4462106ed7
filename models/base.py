"""Column helpers shared by the model modules.

Money is ``Numeric(18, 2)`` and never float; times are stored as naive UTC (``utcnow``) and
converted to the display zone only when shown.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Numeric
from sqlalchemy.dialects.postgresql import JSONB

Money = Numeric(18, 2, asdecimal=True)

# JSONB (with GIN indexes) on PostgreSQL, plain JSON elsewhere.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    """The current time as naive UTC, the form every DateTime column stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
