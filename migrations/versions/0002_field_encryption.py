"""field encryption: sensitive customer and account columns become AES-GCM ciphertext

Adds ``record_uid`` (the row identity bound into every ciphertext) and ``<field>_enc`` /
``<field>_bidx`` columns, encrypts the existing plaintext in place batch by batch with the app's
key ring (``flask.current_app.extensions["crm_keyring"]``, so run it through ``flask db
upgrade``), fills the blind indexes, then drops the plaintext columns and their indexes (the
unique constraint on ``account.account_no`` moves to the unique blind index). The new
deep-profile columns (annual income, family and investment notes) start empty.

Downgrade decrypts back into plaintext columns (same key ring needed).

Revision ID: 0002_field_encryption
Revises: 0001_initial
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_field_encryption"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

BATCH = 1000
# table -> [(field, kind, has blind index)]; the names bound into the associated data.
FIELDS = {
    "customer": [("id_number", "id_number", True), ("mobile", "mobile", True),
                 ("email", "email", False), ("address", "text", False)],
    "account": [("account_no", "account_no", True)],
}
NEW_ONLY = {"customer": ["annual_income", "family_notes", "investment_notes"]}


def _keyring():
    from flask import current_app

    from models.crypto import KeyRingUnavailable

    keyring = current_app.extensions.get("crm_keyring") if current_app else None
    if keyring is None:
        raise KeyRingUnavailable("migration 0002 needs the app's key ring: run `flask db "
                                 "upgrade` (not bare alembic) with the encryption keys configured")
    return keyring


def _encrypt_existing(table_name):
    """Fill record_uid, ciphertexts and blind indexes from the plaintext columns."""
    from models.crypto import aad, new_record_uid, normalise

    fields = FIELDS[table_name]
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("record_uid"),
                     *[sa.column(name) for name, _k, _i in fields],
                     *[sa.column(f"{name}_enc") for name, _k, _i in fields],
                     *[sa.column(f"{name}_bidx") for name, _k, indexed in fields if indexed])
    bind = op.get_bind()
    keyring = None
    while True:
        rows = bind.execute(
            sa.select(table.c.id, *[table.c[name] for name, _k, _i in fields])
            .where(table.c.record_uid.is_(None)).order_by(table.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        keyring = keyring or _keyring()
        updates = []
        for row in rows:
            uid = new_record_uid()
            values = {"_id": row["id"], "record_uid": uid}
            for name, kind, indexed in fields:
                text = normalise(kind, row[name])
                if text is None and row[name] is not None:
                    text = ""  # a blank kept in a NOT NULL column stays a (sealed) blank
                values[f"{name}_enc"] = (None if text is None else
                                         keyring.encrypt(text, aad(table_name, name, uid)))
                if indexed:
                    values[f"{name}_bidx"] = (None if text is None else
                                              keyring.blind_index(kind, text))
            updates.append(values)
        targets = [name for name in updates[0] if name != "_id"]
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("_id"))
            .values({name: sa.bindparam(name) for name in targets}),
            updates,
        )


def upgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("id_number_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("id_number_bidx", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mobile_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("mobile_bidx", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("email_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("address_enc", sa.Text(), nullable=True))
        for name in NEW_ONLY["customer"]:
            batch_op.add_column(sa.Column(f"{name}_enc", sa.Text(), nullable=True))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("account_no_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("account_no_bidx", sa.String(length=64), nullable=True))

    _encrypt_existing("customer")
    _encrypt_existing("account")

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.alter_column("record_uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("id_number_enc", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("id_number_bidx", existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.drop_index("ix_customer_id_number")
        batch_op.drop_index("ix_customer_mobile")
        batch_op.drop_column("id_number")
        batch_op.drop_column("mobile")
        batch_op.drop_column("email")
        batch_op.drop_column("address")
        batch_op.create_index("ix_customer_record_uid", ["record_uid"], unique=True)
        batch_op.create_index("ix_customer_id_number_bidx", ["id_number_bidx"], unique=False)
        batch_op.create_index("ix_customer_mobile_bidx", ["mobile_bidx"], unique=False)
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column("record_uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("account_no_enc", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("account_no_bidx", existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.drop_column("account_no")  # its unique constraint goes with it
        batch_op.create_index("ix_account_record_uid", ["record_uid"], unique=True)
        batch_op.create_index("ix_account_account_no_bidx", ["account_no_bidx"], unique=True)


def _decrypt_existing(table_name):
    from models.crypto import aad

    fields = FIELDS[table_name]
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("record_uid"),
                     *[sa.column(name) for name, _k, _i in fields],
                     *[sa.column(f"{name}_enc") for name, _k, _i in fields])
    bind = op.get_bind()
    keyring = None
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.record_uid,
                      *[table.c[f"{name}_enc"] for name, _k, _i in fields])
            .where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        keyring = keyring or _keyring()
        last = rows[-1]["id"]
        updates = []
        for row in rows:
            values = {"_id": row["id"]}
            for name, _kind, _indexed in fields:
                token = row[f"{name}_enc"]
                values[name] = (None if token is None else
                                keyring.decrypt(token, aad(table_name, name, row["record_uid"])))
            updates.append(values)
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("_id"))
            .values({name: sa.bindparam(name) for name, _k, _i in fields}),
            updates,
        )


def downgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_no", sa.String(length=32), nullable=True))
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mobile", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=255), nullable=True))

    _decrypt_existing("customer")
    _decrypt_existing("account")

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index("ix_account_account_no_bidx")
        batch_op.drop_index("ix_account_record_uid")
        batch_op.alter_column("account_no", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("account_account_no_key", ["account_no"])
        batch_op.drop_column("account_no_bidx")
        batch_op.drop_column("account_no_enc")
        batch_op.drop_column("record_uid")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_mobile_bidx")
        batch_op.drop_index("ix_customer_id_number_bidx")
        batch_op.drop_index("ix_customer_record_uid")
        batch_op.alter_column("id_number", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_customer_id_number", ["id_number"], unique=False)
        batch_op.create_index("ix_customer_mobile", ["mobile"], unique=False)
        for name in ["investment_notes", "family_notes", "annual_income", "address", "email",
                     "mobile", "id_number"]:
            batch_op.drop_column(f"{name}_enc")
        batch_op.drop_column("mobile_bidx")
        batch_op.drop_column("id_number_bidx")
        batch_op.drop_column("record_uid")
