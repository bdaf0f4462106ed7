"""The operation log (操作日志): writing, the hash chain, automatic capture, auditor screens.

``log.record(...)`` is the one way to write a row (``redact`` masks what it carries, ``chain``
keys it with ``chain_key``, ``checkpoints`` pin the head outside the database); ``hooks`` logs
creates, updates and deletes of audited models from the session, ``capture`` logs reads, logins
and logouts, ``views`` are the auditor's screens, ``archive`` moves old rows out, and ``cli``
holds ``flask crm audit ...``.
"""
from __future__ import annotations


def install(app) -> None:
    """Wire the log into an app (called once per app by ``create_app``, in an app context)."""
    from backoffice.audit import capture, chain_key, cli, hooks, log, views
    from backoffice.extensions import db

    chain_key.install(app)  # before anything is logged; production refuses to start without it
    log.install_session_tracking(db.session)
    hooks.register_defaults()
    hooks.install(db.session)
    capture.install(app)
    views.register(app.appbuilder)
    cli.register(app)
