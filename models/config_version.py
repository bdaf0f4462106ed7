"""One counter per configuration table, bumped by a database trigger on every write to it.

Several processes serve the app (gunicorn workers, RQ workers, machines): each keeps what it
derives from small configuration tables (custom-field definitions, branches, products, service
flag types, occasions) in memory and checks these counters once per request, so an admin's change
shows on the next request in every process; the same holds for the roles' permissions (FAB's
grant tables). Triggers (migration ``0027_perf_config_version``)
bump the counter in the writing transaction, whatever wrote: a screen, an import's Core insert, the
CLI or SQL typed by hand.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, String

# The tables whose writes bump their counter (the trigger names follow them).
WATCHED_TABLES = ("custom_field_definition", "branch", "product", "service_flag_type",
                  "greeting_occasion")
# FAB's grant tables: the roles' (permission, view) pairs (``security.manager``).
PERMISSION_TABLES = ("ab_permission_view_role", "ab_permission_view", "ab_permission",
                     "ab_view_menu")


class ConfigVersion(Model):
    __tablename__ = "crm_config_version"

    name = Column(String(64), primary_key=True)
    version = Column(BigInteger, nullable=False, default=0)
