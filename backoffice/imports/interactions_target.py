"""Interactions: append-only like transactions, deduplicated by customer, time, channel, topic
and summary; their custom fields are checked and stored like the customer's.

Sensitive custom fields are sealed with the interaction's id as associated data (the table has no
``record_uid``), so they are written in a second, set-based step once the ids are known: the rows
go in with their other values, then one update per chunk adds the sealed values.
"""
from __future__ import annotations

from backoffice.imports import record_events, writes
from backoffice.imports.holdings_target import AppendOnlyTarget, _resolve_refs
from backoffice.imports.plan import ChunkPlan, UniqueValues, check_custom, custom_document
from backoffice.imports.rows import RowResult
from backoffice.imports.timezone import to_utc
from models import Interaction

DEFAULTS = {"direction": "outbound", "complaint": False}


class InteractionTarget(AppendOnlyTarget):
    entity = "interaction"
    table = Interaction.__table__
    references = ("customer", "staff")
    key_columns = ("customer_id", "occurred_at", "channel", "topic", "summary")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.unique = UniqueValues(ctx, Interaction)
        self.sealed_later: dict[int, dict] = {}  # row number -> sensitive typed values

    def row_values(self, result: RowResult, typed: dict | None = None) -> dict:
        ctx = self.ctx
        if typed is None:
            typed = check_custom(ctx, result, new=True)
        sensitive = {k: v for k, v in typed.items() if _spec(ctx, k).sensitive}
        if sensitive:
            self.sealed_later[result.row] = sensitive
        values = {**DEFAULTS, **result.values}
        values["occurred_at"] = to_utc(values["occurred_at"])
        values["customer_id"] = ctx.refs.get("customer", result.references.get("customer"))
        staff = result.references.get("staff")
        values["staff_id"] = ctx.refs.get("staff", staff) if staff else None
        values["custom_fields"] = custom_document(
            ctx, {k: v for k, v in typed.items() if k not in sensitive}, None)
        return values

    def _checked(self, results, against_database: bool):
        _resolve_refs(self.ctx, results, self.references)
        self.sealed_later = {}
        rows = [(result, check_custom(self.ctx, result, new=True))  # problems land on the row
                for result in results if result.ok]
        self.unique.check([(result, typed, None) for result, typed in rows], against_database)
        return [(result, self.row_values(result, typed)) for result, typed in rows if result.ok]

    def _valid(self, results):
        return self._checked(results, against_database=True)

    def observe(self, results) -> None:
        """Rows committed by an earlier run: counted, and their unique values remembered (the
        database already holds them under their own ids, so it is not asked)."""
        for _, values in self._checked(results, against_database=False):
            self.seen[self.key(values)] += 1

    def snapshot(self, values: dict) -> dict:
        return {k: v for k, v in values.items() if k != "custom_fields"}

    def apply(self, plan: ChunkPlan) -> None:
        session, ctx = self.ctx.session, self.ctx
        ids = writes.insert_rows(session, self.table, [i.values for i in plan.inserts])
        writes.record_changes(session, ctx.batch_id, [
            {"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
            for new_id, i in zip(ids, plan.inserts)])
        sealed = [(new_id, {"custom_fields": custom_document(
            ctx, self.sealed_later[i.row], str(new_id), i.values["custom_fields"])})
            for new_id, i in zip(ids, plan.inserts) if i.row in self.sealed_later]
        writes.update_rows(session, self.table, sealed)
        documents = dict(sealed)  # the custom fields as written, sealed values included
        record_events.publish_created(session, Interaction, ctx.batch_id, ids, (
            {**i.values, **documents.get(new_id, {})} for new_id, i in zip(ids, plan.inserts)))


def _spec(ctx, key):
    return ctx.all_custom.get(key) or ctx.custom_specs[key]
