"""operation log: mask stored identifiers and re-seal the chain under the chain key

Revision ID: 0021_audit_pii
Revises: 0020_undo_lz4

Rows written before the log redacted by value shape may hold what a request carried in full (an
ID number typed into a search box, a mobile in an export filter, an address in a rison ``q=``).
This migration redacts every stored row as new rows are redacted (``backoffice.audit.redact``),
then re-seals the chain from its first row with the chain key (``CRM_AUDIT_CHAIN_KEY``, or the
embedded default's ``instance/audit_chain_key``): the plain SHA-256 chain becomes the keyed one
(``backoffice.audit.chain``), its head and the recorded last hash of archives not yet purged
following. The old chain is verified first (a row may be sealed the old way or already with the
key, by new code that ran before this migration); a log that does not verify is refused, since
re-sealing would hide the tampering. Finally the migration appends a row recording itself
(``audit_migration``), so ``flask crm audit verify`` passes afterwards and the rewrite is on
record. An empty log has nothing to re-seal and records nothing.

Run it through ``flask db upgrade`` (the chain key comes from the app). Archive files written
before stay as they were: they lie outside the database (the migration's log row names the
archives whose recorded hash moved).

Downgrade re-seals the chain with the plain SHA-256 the previous code verifies; masked values
stay masked.
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0021_audit_pii"
down_revision = "0020_undo_lz4"
branch_labels = None
depends_on = None


def _key():
    from flask import current_app

    from models.crypto import KeyConfigError

    key = current_app.extensions.get("crm_audit_chain_key") if current_app else None
    if key is None:
        raise KeyConfigError("migration 0021 needs the operation log's chain key: run `flask db "
                             "upgrade` (not bare alembic) with CRM_AUDIT_CHAIN_KEY configured")
    return key


def _custom_kinds(bind) -> dict:
    """Sensitive custom field key -> masking kind, read on the migration's own connection."""
    from types import SimpleNamespace

    from backoffice.security.masking import custom_kind

    table = sa.table("custom_field_definition", sa.column("key"), sa.column("field_type"),
                     sa.column("sensitive"))
    kinds = {}
    for key, field_type, sensitive in bind.execute(
            sa.select(table.c.key, table.c.field_type, table.c.sensitive)):
        kind = custom_kind(SimpleNamespace(sensitive=bool(sensitive), type=field_type))
        if kind:
            kinds.setdefault(key, kind)
    return kinds


def _record(bind, key, report, direction):
    from backoffice.audit import chain

    row = {name: None for name in chain.FIELDS}
    row.update(occurred_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
               actor_username="migration", action="audit_migration", entity="AuditLog",
               entity_id=revision, detail=chain.canonical_json({
                   "revision": revision, "direction": direction, "rows": report.rows,
                   "masked_rows": report.masked, "resealed_from": report.resealed_from,
                   "archives_relinked": report.archives}))
    seal = chain.hasher(key) if key is not None else chain.unkeyed_hash
    last_id, last_hash = chain.lock_head(bind)
    row.update(id=last_id + 1, prev_hash=last_hash)
    row["row_hash"] = seal(row["id"], row, last_hash)
    bind.execute(chain.log_table.insert().values(**row))
    bind.execute(chain.head_table.update().where(chain.head_table.c.id == chain.HEAD_ID)
                 .values(last_id=row["id"], last_hash=row["row_hash"]))


def upgrade():
    from backoffice.audit import chain, reseal

    bind = op.get_bind()
    key = _key()
    report = reseal.reseal(bind, chain.hasher(key), (chain.unkeyed_hash, chain.hasher(key)),
                           custom_kinds=_custom_kinds(bind))
    if report.rows:
        _record(bind, key, report, "upgrade")


def downgrade():
    from backoffice.audit import chain, reseal

    bind = op.get_bind()
    key = _key()
    report = reseal.reseal(bind, chain.unkeyed_hash, (chain.hasher(key),), redact_rows=False)
    if report.rows:
        _record(bind, None, report, "downgrade")
