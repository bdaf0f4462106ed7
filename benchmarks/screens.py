"""p50/p95 of the main screens at scale, beside stock Flask-AppBuilder's list of the same table.

Each screen is requested through the real app (routing, login session, record scope, masking,
operation log, templates) with Flask's test client, so the figure is the server's time per page
without network. The baseline is FAB's own ``ModelView`` list over the same ``customer`` table,
registered in the same app for this run: its page does ``count(*)`` over every matching row and
its "starts with" is ``ILIKE``; ours caps the count and uses indexed filters
(``backoffice.datamodel``). Screens:

- customer list (page 1, a numbered page, a keyset page anywhere in the list), name prefix
  search, exact search by customer number, ID number and mobile (blind index), the 360 page
  (senior manager, branch manager, RM);
- the operation-log filter (auditor) by action, by actor, by customer, by time window, and a
  keyset page of the whole log anywhere in its 10 million rows;
- the task lists (all follow-ups; "my tasks" of an RM).

Against a loaded database (read-mostly: logins and 360 reads append to the operation log):

    python benchmarks/screens.py --database-url postgresql://postgres@127.0.0.1:5432/crm_scale \
        --instance-path /work/tools/scale-instance [--repeat 40]

or build a fresh one first (the database is emptied, then the demo bank is loaded by COPY):

    python benchmarks/screens.py --database-url postgresql://.../crm_bench --customers 20000 \
        [--log-rows 200000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import DEMO_PASSWORD, login_test_client  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (or CRM_BENCH_DATABASE_URL); with "
                        "--customers it is emptied, and refused if it holds customers")
    parser.add_argument("--instance-path", default=None,
                        help="instance folder holding the database's encryption keys")
    parser.add_argument("--customers", type=int, default=None,
                        help="empty the database and load this many demo customers first")
    parser.add_argument("--tx-per-month", type=float, default=4)
    parser.add_argument("--log-rows", type=int, default=0,
                        help="with --customers: also generate this many operation-log rows")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per screen")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    args = parser.parse_args(argv)
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url (or CRM_BENCH_DATABASE_URL) must be a postgresql:// URL")
    return args


def build_app(args):
    if args.instance_path:
        os.environ["CRM_INSTANCE_PATH"] = args.instance_path
    else:
        os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    os.environ["DATABASE_URL"] = args.database_url
    from backoffice import create_app
    from backoffice.extensions import db

    if args.customers:
        from flask_migrate import upgrade

        from backoffice.demo.bulk import load_demo_bulk
        from backoffice.demo.oplog import load_operation_log
        from backoffice.security.seeding import sync_roles
        from config.roles import ROLES
        from benchmarks._safety import reset_public_schema

        reset_public_schema(args.database_url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
        with app.app_context():
            upgrade(revision="heads")
            sync_roles(app.appbuilder, ROLES)
            started = time.perf_counter()
            load_demo_bulk(db.session, customers=args.customers, seed=42,
                           tx_per_month=args.tx_per_month, password=args.password)
            print(f"loaded {args.customers} customers in {time.perf_counter() - started:.1f}s")
            if args.log_rows:
                print("operation log:", load_operation_log(db.session, args.log_rows))
            db.session.remove()
    else:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    add_stock_view(app)
    return app


def add_stock_view(app):
    """Stock FAB: a plain ModelView over ``customer`` (count(*), ILIKE), list body unchanged.

    Its ``list`` is FAB's own body without the permission decorator (the view exists only in
    this process, so no role holds a permission on it); everything the page does is FAB's.
    """
    from flask_appbuilder import ModelView, expose
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    from models import Customer

    class StockCustomerView(ModelView):
        route_base = "/stock/customers"
        datamodel = SQLAInterface(Customer)
        list_columns = ["customer_no", "name", "customer_type", "branch", "owner",  # noqa: RUF012
                        "risk_tolerance", "status"]
        search_columns = ["customer_no", "name", "status"]  # noqa: RUF012
        base_order = ("customer_no", "asc")

        @expose("/list/")
        def list(self):
            widgets = self._list()
            return self.render_template(self.list_template, title=self.list_title,
                                        widgets=widgets)

    with app.app_context():
        app.appbuilder.add_view_no_menu(StockCustomerView)


def staff(app) -> dict[str, str]:
    """One username per role of the demo (the first of each, by name)."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role
    from sqlalchemy import func, select

    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        s, r, link = Staff.__table__, Role.__table__, assoc_user_role
        rows = db.session.execute(
            select(r.c.name, func.min(s.c.username))
            .select_from(s.join(link, link.c.user_id == s.c.id).join(r, r.c.id == link.c.role_id))
            .group_by(r.c.name)).all()
        db.session.remove()
    return dict(rows)


def samples(app, username_rm: str, count: int = 60) -> dict:
    """Real values to search for: customer numbers, ID numbers, mobiles, ids, name prefixes."""
    from sqlalchemy import func, select, text

    from backoffice.extensions import db
    from models import Customer, Staff

    with app.app_context():
        ids = db.session.execute(text(
            "SELECT id FROM customer TABLESAMPLE SYSTEM (1) LIMIT :n"), {"n": count}).scalars().all()
        if len(ids) < count:
            ids = db.session.execute(select(Customer.id).order_by(func.random()).limit(count)
                                     ).scalars().all()
        customers = db.session.execute(select(Customer).where(Customer.id.in_(ids))).scalars()
        found = [(c.id, c.customer_no, c.name, c.id_number, c.mobile, c.branch_id)
                 for c in customers]
        rm = db.session.execute(select(Staff).where(Staff.username == username_rm)).scalar_one()
        own = db.session.execute(select(Customer.id).where(Customer.owner_id == rm.id)
                                 .limit(count)).scalars().all()
        branch_ids = db.session.execute(select(Customer.id).where(
            Customer.branch_id == rm.branch_id).limit(count)).scalars().all()
        total = db.session.execute(text(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'customer'")).scalar()
        log_rows = db.session.execute(text(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_log'")).scalar()
        users = db.session.execute(text(
            "SELECT actor_username FROM audit_log TABLESAMPLE SYSTEM (0.01) "
            "WHERE actor_username IS NOT NULL LIMIT 30")).scalars().all()
        db.session.remove()
    return {"customers": found, "own": own, "branch": branch_ids, "total": total,
            "log_rows": log_rows, "actors": users or [username_rm]}


class Session:
    """A logged-in test client (agreement accepted through its form, as a person would)."""

    def __init__(self, app, username: str, password: str):
        self.client = login_test_client(app, username, password)

    def get(self, url: str) -> float:
        started = time.perf_counter()
        response = self.client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        return elapsed


def filter_arg(app, view_name: str, column: str, arg_name: str) -> str:
    for view in app.appbuilder.baseviews:
        if view.__class__.__name__ == view_name:
            filters = view._filters._search_filters[column]
            index = next(n for n, f in enumerate(filters) if f.arg_name == arg_name)
            return f"_flt_{index}_{column}"
    raise SystemExit(f"no view {view_name}")


def measure(session: Session, urls, repeat: int) -> tuple[float, float]:
    urls = list(urls)
    for url in urls[:3]:
        session.get(url)  # warm: templates compiled, connection pool filled
    times = [session.get(urls[n % len(urls)]) for n in range(repeat)]
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return p50 * 1000, p95 * 1000


def screens(app, data, logins, repeat):
    """(label, session role, URLs, target ms) for every screen measured."""
    rng = random.Random(9)
    customers = data["customers"]
    rng.shuffle(customers)
    cno = filter_arg(app, "CustomerView", "customer_no", "eq")
    name = filter_arg(app, "CustomerView", "name", "sw")
    idn = filter_arg(app, "CustomerView", "id_number", "eq")
    mob = filter_arg(app, "CustomerView", "mobile", "eq")
    stock_name = filter_arg(app, "StockCustomerView", "name", "sw")
    action = filter_arg(app, "AuditLogView", "action", "eq")
    actor = filter_arg(app, "AuditLogView", "actor_username", "eq")
    cref = filter_arg(app, "AuditLogView", "customer_id", "cref")
    since = filter_arg(app, "AuditLogView", "occurred_at", "from")
    until = filter_arg(app, "AuditLogView", "occurred_at", "until")
    from backoffice.pagination import encode_key

    # Keyset pages that start right after a random customer (anywhere in the million) or a
    # random log row: what "next" links deep in the list carry (backoffice.pagination).
    deep = [f"/customers/list/?after_CustomerView={encode_key('customer_no', 'asc', c[1], c[0])}"
            for c in customers[:20]]
    numbered = [f"/customers/list/?page_CustomerView={rng.randint(1, 19)}" for _ in range(20)]
    log_deep = [f"/auditlog/list/?after_AuditLogView={encode_key('id', 'desc', n, n)}"
                for n in (rng.randint(1, max(2, data["log_rows"])) for _ in range(20))]
    prefixes = sorted({c[2][:1] for c in customers}) + sorted({c[2][:2] for c in customers})
    windows = []
    for _ in range(20):
        day = dt.date.today() - dt.timedelta(days=rng.randint(1, 360))
        windows.append(f"/auditlog/list/?{since}={day}+09:00&{until}={day}+12:00")
    return [
        ("customer list, page 1", "SeniorManager", ["/customers/list/"], 200),
        ("customer list, numbered page (2-20)", "SeniorManager", numbered, 200),
        ("customer list, keyset page anywhere", "SeniorManager", deep, 200),
        ("customer list, branch manager", "BranchManager", ["/customers/list/"], 200),
        ("customer list, relationship manager", "RelationshipManager", ["/customers/list/"],
         200),
        ("search: name prefix", "SeniorManager",
         [f"/customers/list/?{name}={p}" for p in prefixes], 200),
        ("search: customer number", "SeniorManager",
         [f"/customers/list/?{cno}={c[1]}" for c in customers], 200),
        ("search: ID number (blind index)", "SeniorManager",
         [f"/customers/list/?{idn}={c[3]}" for c in customers], 200),
        ("search: mobile (blind index)", "SeniorManager",
         [f"/customers/list/?{mob}={c[4]}" for c in customers if c[4]], 200),
        # The navigation bar's search box (backoffice.customers.search), beside the list's
        # own name filter above as its baseline, target 100 ms.
        ("search box: name prefix (baseline: list above)", "SeniorManager",
         [f"/customers/search/?q={quote(p)}" for p in prefixes], 100),
        ("search box: customer number", "SeniorManager",
         [f"/customers/search/?q={c[1]}" for c in customers], 100),
        ("search box: ID number (blind index)", "SeniorManager",
         [f"/customers/search/?q={c[3]}" for c in customers], 100),
        ("search box: mobile (blind index)", "SeniorManager",
         [f"/customers/search/?q={c[4]}" for c in customers if c[4]], 100),
        ("search box: name prefix, relationship manager", "RelationshipManager",
         [f"/customers/search/?q={quote(p)}" for p in prefixes], 100),
        ("360 page, senior manager", "SeniorManager",
         [f"/customers/show/{c[0]}" for c in customers], 200),
        ("360 page, branch manager", "BranchManager",
         [f"/customers/show/{i}" for i in data["branch"]], 200),
        ("360 page, relationship manager", "RelationshipManager",
         [f"/customers/show/{i}" for i in data["own"]], 200),
        ("log filter: action", "Auditor",
         [f"/auditlog/list/?{action}={a}" for a in ("reveal", "export", "update", "view_360",
                                                    "login_failed")], 300),
        ("log filter: actor", "Auditor",
         [f"/auditlog/list/?{actor}={u}" for u in data["actors"]], 300),
        ("log filter: customer", "Auditor",
         [f"/auditlog/list/?{cref}={c[1]}" for c in customers], 300),
        ("log filter: time window", "Auditor", windows, 300),
        ("log list, page 1", "Auditor", ["/auditlog/list/"], 300),
        ("log list, keyset page anywhere", "Auditor", log_deep, 300),
        ("task list (all follow-ups)", "SeniorManager", ["/followups/list/"], 200),
        ("my tasks (relationship manager)", "RelationshipManager", ["/mytasks/list/"], 200),
        ("home dashboard, senior manager", "SeniorManager", ["/"], 200),
        ("home dashboard, relationship manager", "RelationshipManager", ["/"], 200),
        ("BASELINE stock FAB list, page 1 (count(*))", "SeniorManager",
         ["/stock/customers/list/"], None),
        ("BASELINE stock FAB name prefix (ILIKE, count(*))", "SeniorManager",
         [f"/stock/customers/list/?{stock_name}={p}" for p in prefixes], None),
    ]


def main(argv=None):
    args = parse_args(argv)
    app = build_app(args)
    users = staff(app)
    data = samples(app, users["RelationshipManager"])
    print(f"database: {args.database_url.rsplit('@', 1)[-1]}  customers ~{data['total']:,}  "
          f"operation-log rows ~{data['log_rows']:,}  repeat {args.repeat}")
    sessions = {}
    rows = []
    for label, role, urls, target in screens(app, data, users, args.repeat):
        if not urls:
            continue
        if role not in sessions:
            sessions[role] = Session(app, users[role], args.password)
        p50, p95 = measure(sessions[role], urls, args.repeat)
        verdict = "" if target is None else ("ok" if p95 < target else f"SLOW (>{target} ms)")
        rows.append((label, p50, p95, verdict))
        print(f"  {label:<48} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   {verdict}", flush=True)
    return rows


if __name__ == "__main__":
    main()
