"""Plugs the rules into the app: watched record types, the outbox consumer, the net-outflow
metric the rule builder offers, and the screens."""
from __future__ import annotations

CONSUMER = "automation"


def install(appbuilder) -> None:
    from backoffice import events
    from backoffice.automation import catalog, engine, metrics, views

    for record_type in catalog.RECORD_TYPES.values():
        events.watch(record_type.model, record_type.code)
    events.subscribe(CONSUMER, engine.handle_event, _wants, tables=("automation_rule",))
    metrics.register()
    views.register(appbuilder)


def _wants(name: str) -> bool:
    """Whether an enabled rule listens to ``name`` (read from the rules table, so every
    process agrees the moment a rule is switched on; the outbox keeps the answer while the
    table's counter is unchanged)."""
    from backoffice.automation import engine
    from backoffice.extensions import db

    return name in engine.wanted_names(db.session)
