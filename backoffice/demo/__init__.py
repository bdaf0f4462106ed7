"""Demo data: a realistic bank (branches, staff, products, customers and a year of activity).

``flask crm demo`` calls :func:`load_demo`; generation (``generator`` and the modules it uses)
is pure and seeded, loading (``loader``) is the only part that touches the database.
"""
from backoffice.demo.loader import (
    DEFAULT_PASSWORD,
    DemoAlreadyLoaded,
    DemoError,
    DemoResult,
    MissingRoles,
    load_demo,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "DemoAlreadyLoaded",
    "DemoError",
    "DemoResult",
    "MissingRoles",
    "load_demo",
]
