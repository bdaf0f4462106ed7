"""Customers: upsert by customer number or ID number (through the blind index), set-based.

A row matches the customer with its customer number, else the one with its ID number (the
blind index of the normalised number: the only way to find an encrypted value). When the two
name different customers the row is rejected. An empty cell means "leave as it is", never
"clear": spreadsheets leave cells empty for what they do not know. So a row that updates a
customer needs only the columns it changes (no name, or no name column at all); the name is
required of a new customer only, here, where it is known which the row is.

New customers get, when the file does not say: the configured default branch
(``CRM_IMPORT_DEFAULT_BRANCH``, a branch code; else the first branch by id), a relationship
manager of that branch as owner (``default_owner``: the smallest book), a generated customer
number ``IMP<batch:7><row:8>``, and, when the file has no ID number, the placeholder ID type
``UNKNOWN`` with the number ``UNKNOWN-<customer number>`` (the column is NOT NULL; the marker is
unique per customer, so it never merges two customers, and a later file with real ID numbers
replaces it by customer number). ``CRM_IMPORT_REQUIRE_ID_NUMBER=true`` rejects such rows instead.
"""
from __future__ import annotations

from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from backoffice.imports import record_events, writes
from backoffice.imports.default_owner import OwnerPicker
from backoffice.imports.plan import (
    ChunkPlan,
    Context,
    Insert,
    UniqueValues,
    Update,
    check_custom,
    custom_changes,
    custom_document,
    raw_diff,
)
from backoffice.imports.refs import MISSING
from backoffice.imports.rows import (
    RULES,
    FileDuplicates,
    RowResult,
    apply_gender_rule,
    gender_rule,
)
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
_PLAIN_KEYS = frozenset(PLAIN)
_BLANK_ROW = {**dict.fromkeys(PLAIN), **DEFAULTS}  # a new customer's plain columns, unset
_AFTER_CREATE = {"version": 1}  # shared, never mutated: what revert compares a created row to
_READ = [TABLE.c[name] for name in (
    "id", "customer_no", "record_uid", "version", "owner_id", "branch_id", "custom_fields",
    *PLAIN, *(f"{f}_enc" for f in SEALED), *INDEXED.values())]


def generated_number(batch_id: int, row: int) -> str:
    """A customer number for a new customer whose row has none (stable across re-runs)."""
    return f"{generated_prefix(batch_id)}{row % 100_000_000:08d}"


def generated_prefix(batch_id: int) -> str:
    """What every number :func:`generated_number` gives in this batch starts with."""
    return f"IMP{batch_id % 10_000_000:07d}"


def is_generated_here(number: str, prefix: str) -> bool:
    """Whether ``number`` has the form of a number this batch generates (reserved: a row given
    one would name, or take, the customer another row of the file gets the number for)."""
    if not number.startswith(prefix):  # the usual case, decided by one call
        return False
    rest = number[len(prefix):]
    return len(rest) == 8 and rest.isdigit()


class CustomerTarget:
    entity = "customer"
    table = TABLE

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.keyring = crypto.current_keyring()
        self.unique = UniqueValues(ctx, Customer)
        self.claimed = FileDuplicates()  # existing customers the file's rows found, by id
        self.expect_inserts = True  # until a chunk says otherwise (see prepare)
        self.owners = None  # OwnerPicker: at the first new customer the file gives no owner

    # --- planning ---------------------------------------------------------------------------

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        ctx, plan = self.ctx, ChunkPlan()
        apply_gender_rule(results, gender_rule(), ctx.columns.get("gender")
                          or RULES["customers"]["gender"].label)
        for kind in ("branch", "owner"):
            texts = [r.references.get(kind) for r in results]
            known = ctx.refs.resolve(kind, texts)
            if any(known.get(text) is None for text in set(texts) if text):
                for result, text in zip(results, texts):
                    if text and known.get(text) is None:
                        result.problems.append((ctx.header(kind), MISSING[kind]))
        # The ID number's normal form and blind index, computed once per row: they find the
        # existing customer, and a new customer stores them.
        id_texts = [r.prepared.id_text if r.prepared is not None
                    else _normal("id_number", r.values.get("id_number")) for r in results]
        digests = [r.prepared.id_digest if r.prepared is not None else None
                   for r in results]
        present = [i for i, text in enumerate(id_texts) if text and digests[i] is None]
        for i, digest in zip(present, self.keyring.blind_index_many(
                "id_number", [id_texts[i] for i in present])):
            digests[i] = digest
        by_no, by_bidx = self._existing(results, digests)
        matches = [(by_no.get(r.values.get("customer_no")) if r.values.get("customer_no")
                    else None, by_bidx.get(bidx) if bidx else None)
                   for r, bidx in zip(results, digests)]
        firsts = self._first_claims(results, matches)
        reserved = generated_prefix(ctx.batch_id)
        checked = []
        for result, (match_no, match_id), first in zip(results, matches, firsts):
            values = result.values
            if match_no is not None and match_id is not None and match_no["id"] != match_id["id"]:
                result.problems.append((ctx.header("id_number"), _l(
                    "This ID number belongs to another customer than the customer number.")))
            existing = match_no if match_no is not None else match_id
            if first is not None and first != result.row:
                result.problems.append((ctx.header(
                    "customer_no" if match_no is not None else "id_number"), _l(
                    "This row names the same customer as row %(first)s of this file.",
                    first=first)))
            typed_custom = check_custom(ctx, result, new=existing is None) \
                if result.custom or ctx.all_custom else {}  # no custom fields: none
            number = values.get("customer_no")
            if number and is_generated_here(number, reserved):
                result.problems.append((ctx.header("customer_no"), _l(
                    "Numbers %(prefix)s… are given by this import to rows without a customer "
                    "number; use another number.", prefix=reserved)))
            if existing is None and "name" not in values:
                # An update needs only the columns it changes; a new customer needs a name.
                header = ctx.columns.get("name") or RULES["customers"]["name"].label
                if not any(column == header for column, _ in result.problems):
                    result.problems.append((header, _l("A value is required.")))
            if existing is None and not values.get("id_number") and ctx.require_id_number:
                result.problems.append((ctx.header("id_number"), _l("A value is required.")))
            if existing is None and ctx.default_branch_id is None \
                    and not result.references.get("branch"):
                result.problems.append((ctx.header("branch"), _l(
                    "No branch given and no default branch is configured.")))
            checked.append((result, typed_custom, existing))
        self.unique.check([(r, typed, existing["id"] if existing else None)
                           for r, typed, existing in checked])
        new = []
        for (result, typed_custom, existing), id_text, bidx in zip(checked, id_texts, digests):
            if not result.ok:
                plan.rejected.append(result)
                continue
            if existing is None:
                new.append((result, typed_custom, id_text, bidx))
                continue
            update = self._update(result, existing, typed_custom, plan, bidx)
            if update is False:  # refused while planning (an unapproved reviewed change)
                plan.rejected.append(result)
            elif update is None:
                plan.unchanged += 1
            else:
                plan.updates.append(update)
        plan.inserts, plan.insert_columns = self._inserts(new)
        self.expect_inserts = len(plan.inserts) * 2 >= len(results)
        return plan

    def stage(self, plan: ChunkPlan) -> None:
        """Make the plan's inserts ready to copy, on the planning side (``writes.stage_inserts``:
        ids taken, records built), when the pass writes while it plans the next chunk; called by
        the pipeline only for a plan that will be written."""
        if self.ctx.reads is not None:
            plan.staged = writes.stage_inserts(self.ctx.reads, TABLE, plan.insert_columns)

    def _first_claims(self, results: list[RowResult], matches: list) -> list:
        """Per row, the first row of the file that found the same existing customer (the row
        itself when it is the first; None when it found none).

        A file names each existing customer once: a second row finding it (by the other key,
        as the same key is a duplicate already) is rejected, as the two rows' values would
        overwrite each other in an order nobody chose.
        """
        claims = [((match_no or match_id)["id"], result.row)
                  for result, (match_no, match_id) in zip(results, matches)
                  if match_no is not None or match_id is not None]
        firsts = iter(self.claimed.first_rows("customer", claims))
        return [next(firsts) if match_no is not None or match_id is not None else None
                for match_no, match_id in matches]

    def prepare(self, results: list[RowResult]) -> None:
        """Seal the valid rows ahead of planning, on the reading thread
        (``pipeline.validated_chunks``): while the main thread waits for PostgreSQL to take
        the previous chunk, the next chunk's encryption is done. Done only while the batch is
        mostly creating customers (the seals of rows that turn out to be updates are unused).
        """
        if not self.expect_inserts:
            return
        ok = [r for r in results if not r.problems]
        for result, sealed in zip(ok, seal_new(self.keyring, self.ctx.batch_id, ok)):
            result.prepared = sealed

    def _existing(self, results, digests):
        numbers = {r.values["customer_no"] for r in results if r.values.get("customer_no")}
        digests = {d for d in digests if d}
        if not numbers and not digests:
            return {}, {}
        session = self.ctx.reads
        conditions, params = [], {}
        if numbers:
            conditions.append(writes.in_values(session, TABLE.c.customer_no, numbers, params))
        if digests:
            conditions.append(writes.in_values(session, TABLE.c.id_number_bidx, digests,
                                               params))
        found = writes.read_by_index(session, select(*_READ).where(or_(*conditions)), params)
        keys = list(found.keys())
        rows = [dict(zip(keys, row)) for row in found.all()]  # one plain dict a row (read only)
        by_no = {row["customer_no"]: row for row in rows}
        by_bidx = {row["id_number_bidx"]: row for row in rows}
        return by_no, by_bidx

    def _inserts(self, new: list) -> tuple[list[Insert], dict[str, list] | None]:
        """New customers, ``(result, typed custom, id text, id digest)`` each: their inserts
        and their storage values a column at a time (``ChunkPlan.insert_columns``), sensitive
        values sealed by :func:`seal_new` (on the reading thread already, when :meth:`prepare`
        ran)."""
        if not new:
            return [], None
        ctx, refs = self.ctx, self.ctx.refs
        results = [result for result, *_ in new]
        unsealed = [result for result in results if result.prepared is None]
        for result, sealed in zip(unsealed, seal_new(self.keyring, ctx.batch_id, unsealed)):
            result.prepared = sealed
        columns = _gather([result.prepared for result in results])
        count, now = len(new), ctx.now
        branches = {None: ctx.default_branch_id, **refs.resolve("branch", ())}
        owners = {None: None, **refs.resolve("owner", ())}
        references = [result.references for result in results]
        columns["branch_id"] = [branches[r.get("branch") or None] for r in references]
        columns["owner_id"] = [owners[r.get("owner") or None] for r in references]
        unowned = [i for i, owner in enumerate(columns["owner_id"]) if owner is None]
        if unowned:  # the file names no owner: a relationship manager of the branch
            self.owners = self.owners or OwnerPicker(ctx.reads)
            picked = self.owners.owners_for([columns["branch_id"][i] for i in unowned])
            for i, owner in zip(unowned, picked):
                columns["owner_id"][i] = owner
        columns["custom_fields"] = [
            custom_document(ctx, typed_custom, uid) if typed_custom else {}
            for (_, typed_custom, _, _), uid in zip(new, columns["record_uid"])]
        columns["version"] = [1] * count
        columns["created_at"], columns["updated_at"] = [now] * count, [now] * count
        return [Insert(result.row, None, _AFTER_CREATE) for result in results], columns

    def _update(self, result: RowResult, existing: dict, typed_custom: dict,
                plan: ChunkPlan, id_digest: str | None = None) -> Update | None | bool:
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
            text = _normal(KINDS[name], new)
            old_token = existing[f"{name}_enc"]
            if name in INDEXED:  # compared through the blind index: nothing decrypted
                digest = id_digest if name == "id_number" and id_digest else \
                    self.keyring.blind_index(KINDS[name], text)
                if existing[INDEXED[name]] == digest:
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
        reviewed = {name: pair for name, pair in changes.items()
                    if name in ctx.reviewed_fields}
        if reviewed:
            if ctx.approved_reviews is not None and existing["id"] not in ctx.approved_reviews:
                result.problems.append((ctx.header(next(iter(reviewed))), _l(
                    "This row changes reviewed fields (%(fields)s) that no checker approved: "
                    "run the dry run again and submit the batch for approval.",
                    fields=", ".join(sorted(reviewed)))))
                return False
            plan.reviewed.update(reviewed)
            plan.reviewed_rows.append(raw_diff(result.row, "Customer", existing["id"],
                                               existing["customer_no"], reviewed))
        if len(plan.diffs) < 20:
            plan.diffs.append(raw_diff(result.row, "Customer", existing["id"],
                                       existing["customer_no"], changes))
        return Update(result.row, existing["id"], storage, previous,
                      after={"version": existing["version"] + 1}, version=existing["version"],
                      keys={"branch_id": storage.get("branch_id", existing["branch_id"])})

    def observe(self, results) -> None:
        """Rows committed by an earlier run of this batch (resume): nothing to remember."""

    # --- applying ---------------------------------------------------------------------------

    def apply(self, plan: ChunkPlan) -> None:
        session, ctx = self.ctx.session, self.ctx
        if plan.staged is not None:  # PostgreSQL: made ready while the plan was made
            ids = writes.insert_staged(session, plan.staged)
        else:
            ids = writes.insert_rows(session, TABLE, writes.rows_of(plan.insert_columns or {}))
        writes.record_creates(session, ctx.batch_id, ids, [i.row for i in plan.inserts],
                              _AFTER_CREATE)
        record_events.publish_created(session, Customer, ctx.batch_id, ids,
                                      record_events.column_rows(plan.insert_columns))
        if plan.updates:
            writes.update_versioned(session, TABLE, [(u.entity_id, u.version, u.values)
                                                     for u in plan.updates])
            writes.record_changes(session, ctx.batch_id, [
                {"entity_id": u.entity_id, "op": "update", "row_number": u.row,
                 "previous": {k: v for k, v in u.previous.items() if k != "updated_at"},
                 "after": u.after} for u in plan.updates])
            record_events.publish_changed(session, Customer, ctx.batch_id, (
                (u.entity_id, u.previous, u.values, u.keys) for u in plan.updates))


class Sealed(NamedTuple):
    """One row's share of :func:`seal_new`'s work: its place in the columns sealed together,
    its normal ID number (None if the file gives none) and that number's blind index."""

    columns: dict[str, list]  # storage column -> one value per sealed row (shared)
    index: int  # this row's position in them
    id_text: str | None
    id_digest: str | None


def seal_new(keyring, batch_id: int, results: list[RowResult]) -> list[Sealed]:
    """What new customers store, a :class:`Sealed` per row of ``results``: the rows' columns
    but those that need the database (branch, owner, custom fields) and the stamps, with
    their record uids, customer numbers (given or generated) and sensitive values sealed and
    blind-indexed, a column at a time; and each row's own ID number and its blind index
    (which finds an existing customer; None for the placeholder).

    Sealed a column at a time (``KeyRing.encrypt_many``/``blind_index_many``, one random read
    for every nonce and record uid of the chunk) rather than by ``crypto.seal_row`` per row:
    the values are validated, so normal already, and a value costs a few microseconds. The
    columns stay columns down to the COPY (``writes.stage_inserts``): no dict per row. A row
    without an ID number gets the placeholder ``UNKNOWN-<customer number>``. Pure (no
    database, no app): it runs on the reading thread.
    """
    if not results:
        return []
    uids = crypto.new_record_uids(len(results))
    all_values = [result.values for result in results]
    numbers = [values.get("customer_no") or generated_number(batch_id, result.row)
               for values, result in zip(all_values, results)]
    given_ids = [_normal("id_number", values.get("id_number")) for values in all_values]
    columns: dict[str, list] = {}
    for name in SEALED:
        spec = _SPECS[name]
        if name == "id_number":
            texts = [text or crypto.normalise("id_number", f"UNKNOWN-{number}")
                     for text, number in zip(given_ids, numbers)]
        else:
            texts = _normal_column(spec.kind, [values.get(name) for values in all_values])
        present = [i for i, text in enumerate(texts) if text]
        aad = f"customer/{name}/"
        tokens = [None] * len(texts)
        for i, token in zip(present, keyring.encrypt_many(
                [texts[i] for i in present], [(aad + uids[i]).encode() for i in present])):
            tokens[i] = token
        columns[spec.column] = tokens
        if spec.index_column:
            digests = [None] * len(texts)
            for i, digest in zip(present, keyring.blind_index_many(
                    spec.kind, [texts[i] for i in present])):
                digests[i] = digest
            columns[spec.index_column] = digests
    count = len(results)
    block: dict[str, list] = {}
    found = _PLAIN_KEYS.intersection(set().union(*all_values))  # plain keys the rows give
    for key, default in _BLANK_ROW.items():
        block[key] = ([values.get(key, default) for values in all_values] if key in found
                      else [default] * count)
    block.update(columns)
    block["customer_no"] = numbers
    block["record_uid"] = uids  # the ciphertexts are bound to it
    if not all(given_ids):
        block["id_type"] = [id_type if given else PLACEHOLDER_ID_TYPE
                            for given, id_type in zip(given_ids, block["id_type"])]
    digests = block["id_number_bidx"]
    return [Sealed(block, index, given, digests[index] if given else None)
            for index, given in enumerate(given_ids)]


def _gather(sealed: list[Sealed]) -> dict[str, list]:
    """The columns of the rows ``sealed`` names, in its order: the lists themselves when it
    names every row of one :func:`seal_new` call in order (a chunk of new customers), else
    picked row by row (some rows were rejected while planning, or are updates)."""
    first = sealed[0].columns
    if len(sealed) == len(first["record_uid"]) and all(
            entry.columns is first and entry.index == position
            for position, entry in enumerate(sealed)):
        return dict(first)  # a new dict of the same lists: the caller adds columns
    picks = [(entry.columns, entry.index) for entry in sealed]
    return {name: [columns[name][index] for columns, index in picks] for name in first}


def _normal_column(kind: str, values: list) -> list:
    """:func:`_normal` of a column of validated values (mobiles, e-mails, addresses): the
    usual value is its own normal form, checked here without a call per value."""
    if kind == "text":
        return [value if type(value) is str else _normal(kind, value) for value in values]
    if kind == "mobile":
        return [value if type(value) is str and len(value) == 11 and value.isdigit()
                else _normal(kind, value) for value in values]
    if kind == "email":  # validated addresses are trimmed already (``cells.parse_email``)
        return [value if type(value) is str and value and value == value.strip()
                else _normal(kind, value) for value in values]
    return [_normal(kind, value) for value in values]


def _normal(kind: str, value):
    """``crypto.normalise`` of a validated value; validated mobiles, e-mails and addresses are
    in their normal form already (11 digits, trimmed), so the common case costs nothing."""
    if value is None or value == "":
        return None
    if kind == "mobile" and len(value) == 11 and value.isdigit():
        return value
    if kind == "text" and type(value) is str:
        return value
    if kind == "id_number" and type(value) is str and value.isalnum():
        return value.upper()  # normalise_prc_id: spaces removed (none here), upper-cased
    return crypto.normalise(kind, value)


def _open(keyring, name: str, token, uid):
    if token is None:
        return None
    try:
        return keyring.decrypt(token, crypto.aad("customer", name, uid))
    except crypto.CryptoError:
        return None
