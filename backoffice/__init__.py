"""The back office application factory."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask import Flask
from flask_appbuilder import AppBuilder

from backoffice.extensions import csrf, db, migrate


def create_app(config=None) -> Flask:
    """Build an app; ``config`` (class, object or dict) overrides the environment's settings.

    One AppBuilder per app (DESIGN pitfall 2): views are registered inside an app context, and
    record scopes are installed on the session before any view can query.
    """
    from config.settings import INSTANCE_DIR, load_settings

    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    load_settings(app, config)
    _resolve_dotted(app, "FAB_PASSWORD_COMPLEXITY_VALIDATOR")

    import models  # noqa: F401 - register every table on the shared metadata
    from backoffice.messaging import registry as message_channels

    message_channels.check(app)  # a channel missing a part stops start-up here
    from backoffice import (audit, charts, cli, errors, exports, fab_words, formatting, lazy_text,
                            menu_cache, pickers, request_args, security, stored_text,
                            translations_memo)
    from backoffice.security import keys, scopes

    keys.install(app)  # the field-encryption key ring, before anything reads a customer
    db.init_app(app)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    with app.app_context():
        appbuilder = AppBuilder(update_perms=app.config["FAB_UPDATE_PERMS"])
        appbuilder.init_app(app, db.session)
        app.appbuilder = appbuilder
        scopes.install(db.session)
        pickers.install()  # date and date-time inputs by column type, before forms are built
        _register_views(appbuilder)
        audit.install(app)  # operation-log hooks, auditor screens and commands
    security.install_request_hooks(app)
    request_args.install(app)  # malformed list/API arguments answer 400, before any view
    errors.install(app)  # 403/404/405/500 pages in the user's language
    fab_words.install(app)  # labels FAB makes up from column names, translated
    formatting.install(app)
    menu_cache.install(app)  # the navigation menu rendered once per visible set and language
    translations_memo.install(app)  # Flask-Babel's lookups once per request, not per string
    charts.install(app)  # the chart library, served from its pip package
    lazy_text.install(app)  # names interpolated into lazy translations stay escaped
    stored_text.install(app)  # stored messages shown in the reader's language
    exports.install(app)  # the list screens' CSV/XLSX export route handler
    cli.register(app)
    return app


def _resolve_dotted(app: Flask, *keys: str) -> None:
    """Settings that name a function by dotted path (``config/`` imports nothing from the app)
    become the function; a callable passed in ``config`` is kept as it is."""
    from werkzeug.utils import import_string

    for key in keys:
        if isinstance(app.config.get(key), str):
            app.config[key] = import_string(app.config[key])


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _register_views(appbuilder: AppBuilder) -> None:
    """Every feature room registers its own screens and APIs."""
    from flask import current_app
    from backoffice import catalog, customers, fields, imports, interactions, jobs_ui, review

    for room in (customers, interactions, review, catalog, fields, jobs_ui, imports):
        room.register(appbuilder)
    from backoffice import dashboards  # home dashboards and their figures (issue 9)

    dashboards.register(appbuilder)
    from backoffice import campaigns, segments  # tiers, segments, needs, campaigns (issue 6)

    segments.register(appbuilder)
    campaigns.register(appbuilder)
    from backoffice import greetings, service  # greetings, complaints, loans, consent (issue 8)

    greetings.register(appbuilder)
    service.register(appbuilder)
    from backoffice import churn  # churn early warning (issue 7)

    churn.register(appbuilder)
    from backoffice import datawall  # the data wall (数据大屏)

    datawall.register(appbuilder)
    from backoffice import notifications  # the bell, my notifications, the digest

    notifications.register(appbuilder)
    from backoffice import comments  # comments with @mentions on records

    comments.register(appbuilder)
    from backoffice import automation, events  # the event outbox, automation rules
    from jobs.queue import enqueue

    events.install(current_app._get_current_object(), db.session,
                   start=lambda: enqueue("jobs.events.dispatch", description=_l("Event dispatch")))
    automation.register(appbuilder)
    from backoffice import webhooks  # outbound webhooks (after the outbox they consume)

    webhooks.register(appbuilder)
    # The OpenAPI document at /api/v1/_openapi without FAB's Swagger UI page (CDN assets).
    from flask_appbuilder.api.manager import OpenApi

    appbuilder.add_api(OpenApi)
