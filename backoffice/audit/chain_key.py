"""The operation log's chain key: the HMAC key every row hash and checkpoint is keyed with.

The key lives outside the database, so that whoever can rewrite the database cannot recompute
the chain (see ``backoffice.audit.chain``). It comes from ``CRM_AUDIT_CHAIN_KEY`` (base64 of 32
random bytes, ``flask crm keys generate`` prints one). With it unset the embedded default
generates ``audit_chain_key`` into the instance folder once (owner-only permissions, like
``encryption_keys.json``) and production refuses to start, as it does without encryption keys.
Back the key up apart from the database: without it the log can no longer be verified.
"""
from __future__ import annotations

import logging
from pathlib import Path

from models.crypto import KeyConfigError, decode_key, generate_key

log = logging.getLogger(__name__)

SETTING = "CRM_AUDIT_CHAIN_KEY"
KEY_FILE = "audit_chain_key"
EXTENSION = "crm_audit_chain_key"


def key_for_config(config, instance_path) -> bytes:
    """The configured chain key, or the embedded default's generated one."""
    from config.settings import is_production

    configured = config.get(SETTING)
    if configured:
        return decode_key(configured, SETTING)
    if is_production(config):
        raise KeyConfigError(
            "Production needs the operation log's chain key: set CRM_AUDIT_CHAIN_KEY (base64 "
            "of 32 random bytes; `flask crm keys generate` prints one) in the environment, kept "
            "apart from the database. Refusing to start without it.")
    return instance_key(Path(instance_path))


def instance_key(instance_dir: Path) -> bytes:
    """The embedded default's chain key, generated into the instance folder on first use."""
    from config.settings import write_once

    path = Path(instance_dir) / KEY_FILE
    if not path.exists() and write_once(path, generate_key() + "\n"):
        log.warning("generated the operation log's chain key in %s; back it up apart from "
                    "the database (without it the log cannot be verified)", path)
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise KeyConfigError(f"cannot read the chain key file {path}: {error}") from None
    return decode_key(text, str(path))


def install(app) -> None:
    """Load the app's chain key (refusing to start on a bad or missing production key)."""
    app.extensions[EXTENSION] = key_for_config(app.config, app.instance_path)


def current_key() -> bytes:
    """The chain key of the current app (the log is only ever written inside one)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        raise KeyConfigError("the operation log's chain key needs an application context")
    key = current_app.extensions.get(EXTENSION)
    if key is None:
        raise KeyConfigError("the operation log's chain key is not loaded (create_app does it)")
    return key
