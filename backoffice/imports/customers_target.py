"""Customers: upsert by customer number or ID number (through the blind index), set-based.

A row matches the customer with its customer number, else the one with its ID number (the
blind index of the normalised number: the only way to find an encrypted value). When the two
name different customers the row is rejected. An empty cell means "leave as it is", never
"clear": spreadsheets leave cells empty for what they do not know.

New customers get, when the file does not say: the configured default branch
(``CRM_IMPORT_DEFAULT_BRANCH``, a branch code; else the first branch by id), a generated customer
number ``IMP<batch:7><row:8>``, and, when the file has no ID number, the placeholder ID type
``UNKNOWN`` with the number ``UNKNOWN-<customer number>`` (the column is NOT NULL; the marker is
unique per customer, so it never merges two customers, and a later file with real ID numbers
replaces it by customer number). ``CRM_IMPORT_REQUIRE_ID_NUMBER=true`` rejects such rows instead.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from backoffice.imports import writes
from backoffice.imports.plan import (
    ChunkPlan,
    Context,
    Insert,
    UniqueValues,
    Update,
    check_custom,
    custom_changes,
    custom_document,
    masked_diff,
)
from backoffice.imports.refs import MISSING
from backoffice.imports.rows import RowResult
from models import Customer, crypto

TABLE = Customer.__table__
PLAIN = ("name", "customer_type", "gender", "birth_date", "id_type", "occupation",
         "risk_tolerance", "risk_assessed_on", "onboarded_on", "status", "consent_sms",
         "consent_email", "consent_phone", "consent_wechat", "flag_elderly", "flag_disability",
         "flag_vip", "service_notes")
SEALED = ("id_number", "mobile", "email", "address")
INDEXED = {"id_number": "id_number_bidx", "mobile": "mobile_bidx"}
KINDS = {"id_number": "id_number", "mobile": "mobile", "email": "email", "address": "text"}
PLACEHOLDER_ID_TYPE = "UNKNOWN"
DEFAULTS = {"customer_type": "individual", "status": "active", "consent_sms": False,
            "consent_email": False, "consent_phone": False, "consent_wechat": False,
            "flag_elderly": False, "flag_disability": False, "flag_vip": False}
_SPECS = {name: crypto.field_spec("customer", name) for name in SEALED}
_AFTER_CREATE = {"version": 1}  # shared, never mutated: what revert compares a created row to
_READ = [TABLE.c[name] for name in (
    "id", "customer_no", "record_uid", "version", "owner_id", "branch_id", "custom_fields",
    *PLAIN, *(f"{f}_enc" for f in SEALED), *INDEXED.values())]


def generated_number(batch_id: int, row: int) -> str:
    """A customer number for a new customer whose row has none (stable across re-runs)."""
    return f"IMP{batch_id % 10_000_000:07d}{row % 100_000_000:08d}"


class CustomerTarget:
    entity = "customer"
    table = TABLE

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.keyring = crypto.current_keyring()
        self.unique = UniqueValues(ctx, Customer)

    # --- planning ---------------------------------------------------------------------------

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        ctx, plan = self.ctx, ChunkPlan()
        refs = ctx.refs
        refs.resolve("branch", [r.references.get("branch") for r in results])
        refs.resolve("owner", [r.references.get("owner") for r in results])
        for result in results:
            for kind in ("branch", "owner"):
                text = result.references.get(kind)
                if text and refs.get(kind, text) is None:
                    result.problems.append((ctx.header(kind), MISSING[kind]))
        # The ID number's normal form and blind index, computed once per row: they find the
        # existing customer, and a new customer stores them.
        id_texts = [crypto.normalise("id_number", r.values.get("id_number")) for r in results]
        digests = [self.keyring.blind_index("id_number", t) if t else None for t in id_texts]
        by_no, by_bidx = self._existing(results, digests)
        checked = []
        for result, bidx in zip(results, digests):
            values = result.values
            number = values.get("customer_no")
            match_no = by_no.get(number) if number else None
            match_id = by_bidx.get(bidx) if bidx else None
            if match_no is not None and match_id is not None and match_no["id"] != match_id["id"]:
                result.problems.append((ctx.header("id_number"), _l(
                    "This ID number belongs to another customer than the customer number.")))
            existing = match_no if match_no is not None else match_id
            typed_custom = check_custom(ctx, result, new=existing is None)
            if existing is None and not values.get("id_number") and ctx.require_id_number:
                result.problems.append((ctx.header("id_number"), _l("A value is required.")))
            if existing is None and ctx.default_branch_id is None \
                    and not result.references.get("branch"):
                result.problems.append((ctx.header("branch"), _l(
                    "No branch given and no default branch is configured.")))
            checked.append((result, typed_custom, existing))
        self.unique.check([(r, typed, existing["id"] if existing else None)
                           for r, typed, existing in checked])
        for (result, typed_custom, existing), id_text, bidx in zip(checked, id_texts, digests):
            if not result.ok:
                plan.rejected.append(result)
                continue
            if existing is None:
                plan.inserts.append(self._insert(result, typed_custom, id_text, bidx))
                # Later rows of the file with this number or ID number are the same customer.
                continue
            update = self._update(result, existing, typed_custom, plan)
            if update is None:
                plan.unchanged += 1
            else:
                plan.updates.append(update)
        return plan

    def _existing(self, results, digests):
        numbers = {r.values["customer_no"] for r in results if r.values.get("customer_no")}
        digests = {d for d in digests if d}
        if not numbers and not digests:
            return {}, {}
        session = self.ctx.session
        conditions = []
        if numbers:
            conditions.append(writes.in_values(session, TABLE.c.customer_no, numbers))
        if digests:
            conditions.append(writes.in_values(session, TABLE.c.id_number_bidx, digests))
        rows = session.execute(select(*_READ).where(or_(*conditions))).mappings().all()
        by_no = {row["customer_no"]: dict(row) for row in rows}
        by_bidx = {row["id_number_bidx"]: dict(row) for row in rows}
        return by_no, by_bidx

    def _insert(self, result: RowResult, typed_custom: dict, id_text, bidx) -> Insert:
        ctx, values, keyring = self.ctx, result.values, self.keyring
        number = values.get("customer_no") or generated_number(ctx.batch_id, result.row)
        row = {**DEFAULTS, **{k: values[k] for k in PLAIN if k in values}}
        row["customer_no"] = number
        if not id_text:
            row["id_type"] = PLACEHOLDER_ID_TYPE
            id_text = crypto.normalise("id_number", f"UNKNOWN-{number}")
            bidx = keyring.blind_index("id_number", id_text)
        row["branch_id"] = (ctx.refs.get("branch", result.references["branch"])
                            if result.references.get("branch") else ctx.default_branch_id)
        if result.references.get("owner"):
            row["owner_id"] = ctx.refs.get("owner", result.references["owner"])
        uid = crypto.new_record_uid()  # before sealing: the ciphertexts are bound to it
        row["record_uid"] = uid
        row["custom_fields"] = custom_document(ctx, typed_custom, uid)
        row.update(version=1, created_at=ctx.now, updated_at=ctx.now)
        # Sealed here rather than by crypto.seal_row: the values are normalised already and
        # the ID number's blind index is known, so nothing is computed twice.
        for name in SEALED:
            spec = _SPECS[name]
            text = id_text if name == "id_number" else crypto.normalise(spec.kind,
                                                                        values.get(name))
            sealed = keyring.encrypt(text, spec.aad(uid)) if text else None
            row[spec.column] = sealed
            if spec.index_column:
                row[spec.index_column] = (bidx if name == "id_number" else
                                          keyring.blind_index(spec.kind, text) if text else None)
        return Insert(result.row, row, after=_AFTER_CREATE)

    def _update(self, result: RowResult, existing: dict, typed_custom: dict,
                plan: ChunkPlan) -> Update | None:
        ctx, values = self.ctx, result.values
        uid = existing["record_uid"]
        changes: dict = {}  # logical name -> (old, new) for the diff
        storage: dict = {}
        previous: dict = {}
        for name in PLAIN:
            if name in values and values[name] != existing[name]:
                changes[name] = (existing[name], values[name])
                storage[name] = values[name]
                previous[name] = writes.to_json(existing[name])
        for name in SEALED:
            new = values.get(name)
            if not new:
                continue
            text = crypto.normalise(KINDS[name], new)
            old_token = existing[f"{name}_enc"]
            if name in INDEXED and existing[INDEXED[name]] == self.keyring.blind_index(
                    KINDS[name], text):  # compared through the blind index: nothing decrypted
                continue
            old = _open(self.keyring, name, old_token, uid)
            if name not in INDEXED and old == text:
                continue
            changes[name] = (old, text)
            sealed = crypto.seal_row("customer", {"record_uid": uid, name: text}, self.keyring)
            for column in (f"{name}_enc", INDEXED.get(name)):
                if column:
                    storage[column] = sealed[column]
                    previous[column] = existing[column]
        for kind, column in (("branch", "branch_id"), ("owner", "owner_id")):
            text = result.references.get(kind)
            if text:
                new_id = ctx.refs.get(kind, text)
                if new_id != existing[column]:
                    changes[column] = (existing[column], new_id)
                    storage[column] = new_id
                    previous[column] = existing[column]
        current = dict(existing["custom_fields"] or {})
        changed_custom = custom_changes(ctx, typed_custom, current, uid)
        if changed_custom:
            storage["custom_fields"] = custom_document(
                ctx, {k: new for k, (_, new) in changed_custom.items()}, uid, current)
            previous["custom_fields"] = current
            for key, pair in changed_custom.items():
                changes[f"custom_fields.{key}"] = pair
        if not storage:
            return None
        storage["updated_at"] = ctx.now
        previous["updated_at"] = None  # not restored: revert stamps its own time
        plan.reviewed.update(name for name in changes if name in ctx.reviewed_fields)
        if len(plan.diffs) < 20:
            plan.diffs.append(masked_diff(ctx, result.row, existing["customer_no"], changes,
                                          self.entity))
        return Update(result.row, existing["id"], storage, previous,
                      after={"version": existing["version"] + 1}, version=existing["version"])

    def observe(self, results) -> None:
        """Rows committed by an earlier run of this batch (resume): nothing to remember."""

    # --- applying ---------------------------------------------------------------------------

    def apply(self, plan: ChunkPlan) -> None:
        session, ctx = self.ctx.session, self.ctx
        ids = writes.insert_rows(session, TABLE, [i.values for i in plan.inserts])
        changes = [{"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
                   for new_id, i in zip(ids, plan.inserts)]
        if plan.updates:
            writes.update_versioned(session, TABLE, [(u.entity_id, u.version, u.values)
                                                     for u in plan.updates])
            changes += [{"entity_id": u.entity_id, "op": "update", "row_number": u.row,
                         "previous": {k: v for k, v in u.previous.items() if k != "updated_at"},
                         "after": u.after} for u in plan.updates]
        writes.record_changes(session, ctx.batch_id, changes)


def _open(keyring, name: str, token, uid):
    if token is None:
        return None
    try:
        return keyring.decrypt(token, crypto.aad("customer", name, uid))
    except crypto.CryptoError:
        return None
