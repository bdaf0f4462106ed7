"""Greetings: occasions, templates, offers, and the dispatch ledger (screens and the daily run)."""


def register(appbuilder) -> None:
    from backoffice.greetings.views import register_views

    register_views(appbuilder)
