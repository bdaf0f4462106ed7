"""Staff: users with a role, a branch and an employee number, created or updated from a file.

A row matches the user with its username, else the one with its employee number; when the two
name different users, or its e-mail belongs to another user, the row is rejected. A new user
gets the row's role, an unusable password and a one-time set-password link
(``backoffice.security.set_password``): files never carry passwords, and nobody can sign in as
the new user before choosing one. An existing user's name, e-mail, mobile, employee number and
branch are updated; their roles are not (a role is an access decision, taken on the user's own
screen, where it is logged as such): a row naming a role the user does not hold is rejected.

Revert removes the users the batch created, their role links and their links, unless the user
has since set a password or owns customers or interactions (in use, left alone).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, or_, select

from backoffice.imports import writes
from backoffice.imports.holdings_target import _resolve_refs
from backoffice.imports.org_fields import split_name
from backoffice.imports.plan import ChunkPlan, Context, Insert, Update, raw_diff
from backoffice.imports.rows import RowResult
from models import Staff
from models.base import utcnow

USERS = Staff.__table__
COLUMNS = ("username", "first_name", "last_name", "email", "mobile", "employee_no",
           "branch_id")
UNIQUE = ("username", "employee_no", "email")


def _role_link():
    return Staff.roles.property.secondary


def _roles():
    from flask_appbuilder.security.sqla.models import Role

    return Role.__table__


class StaffTarget:
    entity = None
    table = USERS

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.first_rows: dict[tuple, int] = {}
        self.role_ids: dict[str, int] | None = None
        self.new_roles: dict[int, int] = {}  # row number -> role id, for the inserts

    # --- checks ------------------------------------------------------------------------------

    def _duplicates(self, results: list[RowResult]) -> None:
        for result in results:
            for key in UNIQUE:
                value = result.values.get(key)
                if value is None:
                    continue
                first = self.first_rows.setdefault((key, value.casefold()), result.row)
                if first != result.row:
                    result.problems.append((self.ctx.header(key), _l(
                        "Same value as row %(first)s of this file.", first=first)))

    def _role_id(self, result: RowResult) -> int | None:
        if self.role_ids is None:
            roles = _roles()
            self.role_ids = dict(self.ctx.session.execute(select(roles.c.name, roles.c.id)).all())
        role = result.values.get("role")
        role_id = self.role_ids.get(role)
        if role is not None and role_id is None:
            result.problems.append((self.ctx.header("role"), _l(
                "The role %(role)s is not set up in this database; run flask crm init.",
                role=role)))
        return role_id

    def observe(self, results) -> None:
        """Rows committed by an earlier run (resume): their names and numbers are taken."""
        self._duplicates(results)

    # --- the plan ----------------------------------------------------------------------------

    def _existing(self, results) -> tuple[dict, dict]:
        wanted = {key: {r.values[key] for r in results if r.ok and r.values.get(key)}
                  for key in UNIQUE}
        if not any(wanted.values()):
            return {}, {}
        rows = self.ctx.session.execute(select(USERS.c.id, *(USERS.c[c] for c in COLUMNS)).where(
            or_(*(USERS.c[key].in_(sorted(values)) for key, values in wanted.items() if values)))
            .execution_options(crm_unscoped=True)).mappings().all()
        users = {row["id"]: dict(row) for row in rows}
        link, roles = _role_link(), _roles()
        held: dict[int, set] = {}
        if users:
            for user_id, name in self.ctx.session.execute(
                    select(link.c.user_id, roles.c.name).join(roles, roles.c.id == link.c.role_id)
                    .where(link.c.user_id.in_(sorted(users)))).all():
                held.setdefault(user_id, set()).add(name)
        return users, held

    def plan(self, results: list[RowResult]) -> ChunkPlan:
        ctx, plan = self.ctx, ChunkPlan()
        self._duplicates(results)
        _resolve_refs(ctx, results, ("branch",))
        role_ids = {r.row: self._role_id(r) for r in results}
        users, held = self._existing(results)
        by = {key: {(u[key] or "").casefold(): u for u in users.values() if u[key]}
              for key in UNIQUE}
        for result in results:
            if not result.ok:
                plan.rejected.append(result)
                continue
            values = self._values(result)
            named = by["username"].get(values["username"].casefold())
            numbered = by["employee_no"].get(values["employee_no"].casefold())
            if named and numbered and named["id"] != numbered["id"]:
                result.problems.append((ctx.header("employee_no"), _l(
                    "This employee number belongs to another user (%(username)s).",
                    username=numbered["username"])))
            current = named or numbered
            mailed = by["email"].get(values["email"].casefold())
            if mailed and (current is None or mailed["id"] != current["id"]):
                result.problems.append((ctx.header("email"), _l(
                    "Another user has this e-mail address.")))
            if current is not None and result.values["role"] not in held.get(current["id"], ()):
                result.problems.append((ctx.header("role"), _l(
                    "This user does not hold this role; roles of existing users are changed "
                    "on the user's screen.")))
            if not result.ok:
                plan.rejected.append(result)
                continue
            if current is None:
                self.new_roles[result.row] = role_ids[result.row]
                plan.inserts.append(Insert(result.row, values, after=writes.row_json(values)))
                continue
            changed = {c: v for c, v in values.items()
                       if c != "username" and v is not None and v != current[c]}
            if not changed:
                plan.unchanged += 1
                continue
            if len(plan.diffs) < 20:
                plan.diffs.append(raw_diff(result.row, "Staff", current["id"],
                                           current["username"],
                                           {c: (current[c], changed[c]) for c in changed}))
            plan.updates.append(Update(
                result.row, current["id"], changed,
                writes.row_json({c: current[c] for c in changed}),
                writes.row_json({c: changed.get(c, current[c]) for c in COLUMNS})))
        return plan

    def _values(self, result: RowResult) -> dict:
        first, last = split_name(result.values["name"])
        branch = result.references.get("branch")
        return {"username": result.values["username"], "first_name": first, "last_name": last,
                "email": result.values["email"], "mobile": result.values.get("mobile"),
                "employee_no": result.values["employee_no"],
                "branch_id": self.ctx.refs.get("branch", branch) if branch else None}

    # --- the write ---------------------------------------------------------------------------

    def apply(self, plan: ChunkPlan) -> None:
        from backoffice.security import set_password

        session, now = self.ctx.session, utcnow()
        rows = [{**i.values, "active": True, "password": set_password.unusable_password(),
                 "login_count": 0, "fail_login_count": 0, "session_epoch": 0,
                 "created_on": now, "changed_on": now} for i in plan.inserts]
        ids = writes.insert_rows(session, USERS, rows)
        if ids:
            writes._connection(session).execute(insert(_role_link()), [
                {"user_id": new_id, "role_id": self.new_roles[i.row]}
                for new_id, i in zip(ids, plan.inserts)])
            set_password.issue(session, ids, self.ctx.batch_id)
        changes = [{"entity_id": new_id, "op": "create", "row_number": i.row, "after": i.after}
                   for new_id, i in zip(ids, plan.inserts)]
        writes.update_rows(session, USERS, [(u.entity_id, {**u.values, "changed_on": now})
                                            for u in plan.updates])
        changes += [{"entity_id": u.entity_id, "op": "update", "row_number": u.row,
                     "previous": u.previous, "after": u.after} for u in plan.updates]
        writes.record_changes(session, self.ctx.batch_id, changes)

    # --- revert ------------------------------------------------------------------------------

    @classmethod
    def in_use(cls, session, ids: list[int]) -> set[int]:
        """Users who chose a password since, or who own customers or interactions."""
        from backoffice.security.set_password import UNUSABLE_PREFIX
        from models import Customer, Interaction

        used = set(session.execute(select(USERS.c.id).where(
            USERS.c.id.in_(ids), ~USERS.c.password.startswith(UNUSABLE_PREFIX))).scalars())
        for column in (Customer.owner_id, Interaction.staff_id):
            used.update(session.execute(select(column).where(column.in_(ids)).distinct()
                                        .execution_options(crm_unscoped=True)).scalars())
        return used

    @classmethod
    def before_delete(cls, session, ids: list[int]) -> None:
        from models.org import SetPasswordToken

        connection = writes._connection(session)
        link = _role_link()
        connection.execute(delete(link).where(link.c.user_id.in_(ids)))
        connection.execute(delete(SetPasswordToken.__table__).where(
            SetPasswordToken.user_id.in_(ids)))
