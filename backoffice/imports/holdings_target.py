"""Accounts (upsert by account number, through its blind index) and transactions (append-only,
deduplicated so that importing the same statement twice adds nothing).

Transactions have no number of their own, so a row is "the same" as a stored transaction when
account, time, amount, direction and type agree. Two identical rows in one file are two
transactions (two coffees in one minute happen): the n-th occurrence in the file is unchanged
when the database held at least n such transactions before this batch, otherwise it is new.
Times in the file are local (``CRM_DISPLAY_TIMEZONE``) and stored as naive UTC.
"""
from __future__ import annotations

from collections import Counter

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, tuple_

from backoffice.imports import record_events, writes
from backoffice.imports.plan import ChunkPlan, Context, Insert, Update, raw_diff
from backoffice.imports.refs import MISSING
from backoffice.imports.rows import RowResult
from backoffice.imports.timezone import to_utc
from models import Account, Transaction, crypto
from models.imports import ImportRowChange

ACCOUNTS = Account.__table__
TRANSACTIONS = Transaction.__table__
ACCOUNT_COLUMNS = ("customer_id", "product_id", "balance", "currency", "opened_on", "closed_on",
                   "status")
ACCOUNT_DEFAULTS = {"currency": "CNY", "status": "open"}


def _resolve_refs(ctx: Context, results: list[RowResult], kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        ctx.refs.resolve(kind, [r.references.get(kind) for r in results])
    for result in results:
        for kind in kinds:
            text = result.references.get(kind)
            if text and ctx.refs.get(kind, text) is None:
                result.problems.append((ctx.header(kind), MISSING[kind]))


class AccountTarget:
    entity = None
    table = ACCOUNTS

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.keyring = crypto.current_keyring()

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        ctx, plan = self.ctx, ChunkPlan()
        _resolve_refs(ctx, results, ("customer", "product"))
        digests = {r.row: self.keyring.blind_index("account_no", crypto.normalise(
            "account_no", r.values["account_no"])) for r in results if r.values.get("account_no")}
        existing = {}
        if digests:
            params: dict = {}
            rows = writes.read_by_index(ctx.session, select(
                ACCOUNTS.c.id, ACCOUNTS.c.account_no_bidx, *(ACCOUNTS.c[c] for c in ACCOUNT_COLUMNS))
                .where(writes.in_values(ctx.session, ACCOUNTS.c.account_no_bidx,
                                        set(digests.values()), params)), params).mappings().all()
            existing = {row["account_no_bidx"]: dict(row) for row in rows}
        for result in results:
            if not result.ok:
                plan.rejected.append(result)
                continue
            values = dict(result.values)
            values["customer_id"] = ctx.refs.get("customer", result.references["customer"])
            values["product_id"] = ctx.refs.get("product", result.references["product"])
            values.pop("account_no", None)
            current = existing.get(digests.get(result.row))
            if current is None:
                row = {**ACCOUNT_DEFAULTS, "balance": 0, **values,
                       "account_no": result.values["account_no"],
                       "record_uid": crypto.new_record_uid()}
                sealed = crypto.seal_row("account", row, self.keyring)
                plan.inserts.append(Insert(result.row, sealed, after=writes.row_json(
                    {c: sealed.get(c) for c in ACCOUNT_COLUMNS})))
                continue
            if current["customer_id"] != values["customer_id"]:
                result.problems.append((ctx.header("account_no"), _l(
                    "This account belongs to another customer.")))
                plan.rejected.append(result)
                continue
            changed = {c: values[c] for c in ACCOUNT_COLUMNS
                       if c in values and values[c] != current[c]}
            if not changed:
                plan.unchanged += 1
                continue
            after = writes.row_json({c: changed.get(c, current[c]) for c in ACCOUNT_COLUMNS})
            previous = writes.row_json({c: current[c] for c in changed})
            if len(plan.diffs) < 20:
                plan.diffs.append(raw_diff(result.row, "Account", current["id"],
                                           current["id"], {c: (current[c], changed[c])
                                                           for c in changed}))
            plan.updates.append(Update(result.row, current["id"], changed, previous, after,
                                       keys={"customer_id": current["customer_id"]}))
        return plan

    def observe(self, results) -> None:
        """Rows of chunks already committed by an earlier run (resume): nothing to remember."""

    def apply(self, plan: ChunkPlan) -> None:
        session = self.ctx.session
        ids = writes.insert_rows(session, ACCOUNTS, [i.values for i in plan.inserts])
        changes = [{"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
                   for new_id, i in zip(ids, plan.inserts)]
        writes.update_rows(session, ACCOUNTS, [(u.entity_id, u.values) for u in plan.updates])
        changes += [{"entity_id": u.entity_id, "op": "update", "row_number": u.row,
                     "previous": u.previous, "after": u.after} for u in plan.updates]
        writes.record_changes(session, self.ctx.batch_id, changes)
        record_events.publish_created(session, Account, self.ctx.batch_id, ids,
                                      (i.values for i in plan.inserts))
        if plan.updates:
            record_events.publish_changed(session, Account, self.ctx.batch_id, (
                (u.entity_id, u.previous, u.values, u.keys) for u in plan.updates))


class AppendOnlyTarget:
    """Rows without a natural key, deduplicated by occurrence counting (see module docstring)."""

    table = None
    references: tuple = ()
    key_columns: tuple = ()

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.seen: Counter = Counter()
        self.before: dict = {}

    def row_values(self, result: RowResult) -> dict:
        raise NotImplementedError

    def key(self, values: dict) -> tuple:
        return tuple(values.get(c) for c in self.key_columns)

    def _valid(self, results):
        _resolve_refs(self.ctx, results, self.references)
        return [(r, self.row_values(r)) for r in results if r.ok]

    def _load_existing(self, keys: set) -> None:
        """How many rows with each key the database held before this batch."""
        wanted = [k for k in keys if k not in self.before]
        if not wanted:
            return
        table = self.table
        mine = select(ImportRowChange.entity_id).where(
            ImportRowChange.batch_id == self.ctx.batch_id)
        columns = [table.c[c] for c in self.key_columns]
        for index in range(0, len(wanted), 500):
            part = wanted[index:index + 500]
            rows = writes.read_by_index(self.ctx.session, select(*columns, func.count()).where(
                tuple_(*columns).in_(bindparam("crm_keys", expanding=True)),
                table.c.id.not_in(mine)).group_by(*columns), {"crm_keys": part}).all()
            for row in rows:
                self.before[tuple(row[:-1])] = row[-1]
        for key in wanted:
            self.before.setdefault(key, 0)

    def observe(self, results) -> None:
        for _, values in self._valid(results):
            self.seen[self.key(values)] += 1

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        plan = ChunkPlan()
        valid = self._valid(results)
        plan.rejected = [r for r in results if not r.ok]
        self._load_existing({self.key(values) for _, values in valid})
        for result, values in valid:
            key = self.key(values)
            occurrence = self.seen[key]
            self.seen[key] += 1
            if occurrence < self.before.get(key, 0):
                plan.unchanged += 1
            else:
                plan.inserts.append(Insert(result.row, values,
                                           after=writes.row_json(self.snapshot(values))))
        return plan

    def snapshot(self, values: dict) -> dict:
        return values

    def apply(self, plan: ChunkPlan) -> None:
        session = self.ctx.session
        ids = writes.insert_rows(session, self.table, [i.values for i in plan.inserts])
        writes.record_changes(session, self.ctx.batch_id, [
            {"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
            for new_id, i in zip(ids, plan.inserts)])


class TransactionTarget(AppendOnlyTarget):
    entity = None
    table = TRANSACTIONS
    references = ("account",)
    key_columns = ("account_id", "occurred_at", "amount", "direction", "type")

    def row_values(self, result: RowResult) -> dict:
        account_id, customer_id = self.ctx.refs.get("account", result.references["account"])
        values = {k: v for k, v in result.values.items() if k != "account"}
        values["occurred_at"] = to_utc(values["occurred_at"])
        return {**values, "account_id": account_id, "customer_id": customer_id}
