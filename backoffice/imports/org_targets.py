"""Branches and products: upsert by code, the reference data a bank needs before its customers.

A row whose code exists updates the columns the file gives (an empty cell leaves a column as
it is); a new code creates the record. A code named twice in one file is rejected on its second
row (which of two rows should win is the uploader's decision, not the import's). Undo data is
written like the other kinds', so revert removes what the batch created and gives updated rows
their previous values; a created branch that customers or staff now belong to, or a product
that accounts or campaigns use, is in use and left alone by revert (:meth:`KeyedTarget.in_use`).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import writes
from backoffice.imports.plan import ChunkPlan, Context, Insert, Update, raw_diff
from backoffice.imports.rows import RowResult
from models import Branch, Product

class KeyedTarget:
    """Rows matched to records by one unique text column (``key``)."""

    entity = None  # no custom fields
    table = None
    key = "code"
    columns: tuple = ()
    defaults: dict = {}
    label = ""  # the entity's name in the preview

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.first_rows: dict[str, int] = {}

    def _duplicates(self, results: list[RowResult]) -> None:
        for result in results:
            value = result.values.get(self.key)
            if value is None:
                continue
            first = self.first_rows.setdefault(value.upper(), result.row)
            if first != result.row:
                result.problems.append((self.ctx.header(self.key), _l(
                    "Same value as row %(first)s of this file.", first=first)))

    def observe(self, results) -> None:
        """Rows committed by an earlier run (resume): their codes are taken."""
        self._duplicates(results)

    def values_of(self, result: RowResult) -> dict:
        return {c: result.values[c] for c in self.columns if c in result.values}

    def check(self, results: list[RowResult]) -> None:
        """Reference checks of the kind (none for branches and products)."""

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        ctx, plan, table = self.ctx, ChunkPlan(), self.table
        self._duplicates(results)
        self.check(results)
        keys = {r.values[self.key] for r in results if r.ok}
        existing = {}
        if keys:
            rows = ctx.session.execute(select(table.c.id, *(table.c[c] for c in self.columns))
                                       .where(table.c[self.key].in_(sorted(keys)))
                                       .execution_options(crm_unscoped=True)).mappings().all()
            existing = {row[self.key]: dict(row) for row in rows}
        for result in results:
            if not result.ok:
                plan.rejected.append(result)
                continue
            values = self.values_of(result)
            current = existing.get(values[self.key])
            if current is None:
                row = {**self.defaults, **values}
                plan.inserts.append(Insert(result.row, row, after=writes.row_json(
                    {c: row.get(c) for c in self.columns})))
                continue
            changed = {c: v for c, v in values.items() if v != current[c]}
            if not changed:
                plan.unchanged += 1
                continue
            if len(plan.diffs) < 20:
                plan.diffs.append(raw_diff(result.row, self.label, current["id"],
                                           current[self.key],
                                           {c: (current[c], changed[c]) for c in changed}))
            plan.updates.append(Update(
                result.row, current["id"], changed,
                writes.row_json({c: current[c] for c in changed}),
                writes.row_json({c: changed.get(c, current[c]) for c in self.columns})))
        return plan

    def apply(self, plan: ChunkPlan) -> None:
        session, table = self.ctx.session, self.table
        ids = writes.insert_rows(session, table, [i.values for i in plan.inserts])
        changes = [{"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
                   for new_id, i in zip(ids, plan.inserts)]
        writes.update_rows(session, table, [(u.entity_id, u.values) for u in plan.updates])
        changes += [{"entity_id": u.entity_id, "op": "update", "row_number": u.row,
                     "previous": u.previous, "after": u.after} for u in plan.updates]
        writes.record_changes(session, self.ctx.batch_id, changes)

    @classmethod
    def in_use(cls, session, ids: list[int]) -> set[int]:
        return set()

    @classmethod
    def before_delete(cls, session, ids: list[int]) -> None:
        """What must go before the records themselves (nothing for reference data)."""


def _used(session, column, ids) -> set[int]:
    return set(session.execute(select(column).where(column.in_(ids)).distinct()
                               .execution_options(crm_unscoped=True)).scalars())


class BranchTarget(KeyedTarget):
    table = Branch.__table__
    columns = ("code", "name", "city", "address", "phone")
    label = "Branch"

    @classmethod
    def in_use(cls, session, ids):
        from models import Customer, Staff

        return _used(session, Customer.branch_id, ids) | _used(session, Staff.branch_id, ids)


class ProductTarget(KeyedTarget):
    table = Product.__table__
    columns = ("code", "name", "category", "risk_level", "min_amount", "description")
    defaults = {"active": True}
    label = "Product"

    @classmethod
    def in_use(cls, session, ids):
        from models import Account
        from models.campaigns import Campaign

        used = _used(session, Account.product_id, ids)
        if hasattr(Campaign, "product_id"):
            used |= _used(session, Campaign.product_id, ids)
        return used
