"""Zero-code automation: rules of a trigger, conditions and actions, built on screens."""
from __future__ import annotations


def register(appbuilder) -> None:
    """Screens, the event consumer and the watched record types."""
    from backoffice.automation import wiring

    wiring.install(appbuilder)
