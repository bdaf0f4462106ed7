"""Load test: concurrent staff sessions browsing, searching and opening 360 pages over HTTP.

Starts gunicorn (``--workers 4``) on the given PostgreSQL database unless ``--url`` points at a
running server, logs in ``--users`` staff sessions (relationship managers, branch managers and
the senior manager of the demo bank, each through the login form with its CSRF token, accepting
the confidentiality agreement the first time), and keeps every session busy for ``--duration``
seconds with a think time of ``--think`` seconds between pages. A session's mix: customer list
pages, name-prefix and exact customer-number searches, 360 pages of customers in its own scope,
its task list and the home dashboard. Prints requests, errors, throughput and p50/p95/p99 per
page type and overall, and (when it started gunicorn) the server's CPU per request: the
gunicorn workers' and their PostgreSQL backends' user + system time from /proc over the timed
run, divided by the requests served (``benchmarks/server_cpu.py`` gives it per page type). The tool is a plain thread per session over ``http.client`` (standard
library): no extra dependency, and the same client cost for every page.

    python benchmarks/load.py --database-url postgresql://postgres@127.0.0.1:5432/crm_scale \
        --instance-path /work/tools/scale-instance --users 50 --duration 300
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._server import DEMO_PASSWORD, Client, cpu_seconds, start_gunicorn, stop  # noqa: E402
from benchmarks._server import children as _children  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="the loaded PostgreSQL database to browse (or "
                        "CRM_BENCH_DATABASE_URL); read, never rebuilt")
    parser.add_argument("--instance-path", default=os.environ.get("CRM_INSTANCE_PATH"))
    parser.add_argument("--url", default=None, help="a running server (skips starting gunicorn)")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the checkout gunicorn serves (another commit's worktree, to "
                             "compare with it; its .venv may be a symlink to this one's)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--think", type=float, default=3.0,
                        help="mean seconds a person spends on a page before the next one "
                             "(each pause is drawn uniformly from 0.5x to 1.5x)")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the untimed pass of every page type per session")
    args = parser.parse_args(argv)
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    return args


def plan(args):
    """Logins and per-user sample data (customers in scope, numbers, name prefixes)."""
    os.environ["DATABASE_URL"] = args.database_url
    if args.instance_path:
        os.environ["CRM_INSTANCE_PATH"] = args.instance_path
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role
    from sqlalchemy import select, text

    from backoffice import create_app
    from backoffice.extensions import db
    from models import Customer, Staff

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    with app.app_context():
        s, r, link = Staff.__table__, Role.__table__, assoc_user_role
        staff = db.session.execute(
            select(s.c.id, s.c.username, r.c.name, s.c.branch_id)
            .select_from(s.join(link, link.c.user_id == s.c.id).join(r, r.c.id == link.c.role_id))
            .where(r.c.name.in_(("RelationshipManager", "BranchManager", "SeniorManager")))
            .order_by(s.c.id)).all()
        rng = random.Random(5)
        rms = [row for row in staff if row[2] == "RelationshipManager"]
        bms = [row for row in staff if row[2] == "BranchManager"]
        senior = [row for row in staff if row[2] == "SeniorManager"]
        chosen = senior[:1] + rng.sample(bms, min(len(bms), max(1, args.users // 10)))
        chosen += rng.sample(rms, min(len(rms), args.users - len(chosen)))
        users = []
        c = Customer.__table__
        for user_id, username, role, branch_id in chosen[:args.users]:
            if role == "RelationshipManager":
                condition = c.c.owner_id == user_id
            elif role == "BranchManager":
                condition = c.c.branch_id == branch_id
            else:  # the whole bank: customers from all over the table, not its first pages
                condition = c.c.id.in_(db.session.execute(text(
                    "SELECT id FROM customer TABLESAMPLE SYSTEM (0.1) LIMIT 200")).scalars().all())
            rows = db.session.execute(select(c.c.id, c.c.customer_no, c.c.name)
                                      .where(condition).limit(200)).all()
            users.append({"username": username, "role": role,
                          "customers": [(row[0], row[1]) for row in rows],
                          "prefixes": sorted({row[2][:1] for row in rows}) or ["王"]})
        filters = {}
        for view in app.appbuilder.baseviews:
            if view.__class__.__name__ == "CustomerView":
                for column, arg in (("name", "sw"), ("customer_no", "eq")):
                    found = view._filters._search_filters[column]
                    index = next(n for n, f in enumerate(found) if f.arg_name == arg)
                    filters[column] = f"_flt_{index}_{column}"
        total = db.session.execute(text(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'customer'")).scalar()
        db.session.remove()
    return users, filters, total


def pages(user, filters, rng):
    """An endless, weighted mix of what staff do all day: 30 % 360 pages, 20 % list pages
    (numbered near the top, or a "next" page deep in the list that starts after one of the
    session's customers), 15 % name-prefix and 15 % customer-number searches, 10 % the task
    list, 10 % the home dashboard."""
    from backoffice.pagination import encode_key

    while True:
        draw = rng.random()
        cid, cno = rng.choice(user["customers"]) if user["customers"] else (None, None)
        if draw < 0.30 and cid:
            yield "360 page", f"/customers/show/{cid}"
        elif draw < 0.40:
            page = rng.randint(0, 19)
            yield "customer list", f"/customers/list/?page_CustomerView={page}"
        elif draw < 0.50 and cid:
            key = encode_key("customer_no", "asc", cno, cid)
            yield "customer list, keyset", f"/customers/list/?after_CustomerView={key}"
        elif draw < 0.65:
            prefix = urllib.parse.quote(rng.choice(user["prefixes"]))
            yield "search: name prefix", f"/customers/list/?{filters['name']}={prefix}"
        elif draw < 0.80 and cno:
            yield "search: customer number", f"/customers/list/?{filters['customer_no']}={cno}"
        elif draw < 0.90:
            yield "task list", "/mytasks/list/"
        else:
            yield "home dashboard", "/"


def start_server(args):
    server, base = start_gunicorn(args.checkout, args.database_url, workers=args.workers,
                                  app_name=APP_NAME, instance_path=args.instance_path)
    print(f"gunicorn master {server.pid} with {len(_children(server.pid))} worker "
          f"processes (asked for {args.workers})", flush=True)
    return server, base


APP_NAME = f"crm-load-{os.getpid()}"


def server_cpu(server, database_url) -> tuple[float, float]:
    """(app, database) CPU seconds so far: the gunicorn workers, and the PostgreSQL backends
    whose ``application_name`` is this run's (PostgreSQL on this machine)."""
    from sqlalchemy import create_engine, text

    app = sum(cpu_seconds(pid) for pid in _children(server.pid))
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name "
                                     "= :name"), {"name": APP_NAME}).scalars().all()
    finally:
        engine.dispose()
    return app, sum(cpu_seconds(pid) for pid in pids)


def run(args):
    users, filters, total = plan(args)
    server, base = (None, args.url) if args.url else start_server(args)
    results: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter = collections.Counter()
    lock = threading.Lock()
    cpu = None
    try:
        clients = []
        for user in users:
            client = Client(base)
            client.login(user["username"], args.password)
            clients.append((client, user))
        print(f"{len(clients)} sessions logged in against {base} (customers ~{total:,}); "
              f"running {args.duration:.0f} s, think time {args.think} s", flush=True)
        if args.warmup:
            # One untimed pass of every page type per session: each gunicorn worker compiles
            # its templates and fills its connection pool before the clock starts.
            for number, (client, user) in enumerate(clients):
                seen, kinds = set(), 7 if user["customers"] else 4
                for label, path in pages(user, filters, random.Random(-1 - number)):
                    if label not in seen:
                        seen.add(label)
                        client.request("GET", path)
                    if len(seen) == kinds:
                        break
        stop_at = time.time() + args.duration

        def worker(number, client, user):
            rng = random.Random(number)
            time.sleep(rng.random() * args.think)
            for label, path in pages(user, filters, rng):
                if time.time() >= stop_at:
                    return
                started = time.perf_counter()
                try:
                    status, _loc, _body = client.request("GET", path)
                    ok = status == 200
                except Exception:  # noqa: BLE001 - a failed request is an error in the report
                    ok, status = False, "exception"
                elapsed = time.perf_counter() - started
                with lock:
                    results[label].append(elapsed)
                    if not ok:
                        errors[f"{label}: {status}"] += 1
                time.sleep(args.think * rng.uniform(0.5, 1.5))

        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
        cpu_before = server_cpu(server, args.database_url) if server is not None else None
        started = time.time()
        threads = [threading.Thread(target=worker, args=(n, c, u), daemon=True)
                   for n, (c, u) in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - started
        if cpu_before is not None:
            # Backends that closed during the run took their CPU with them: a lower bound.
            cpu_after = server_cpu(server, args.database_url)
            cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
        print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    finally:
        if server is not None:
            stop(server)
    report(results, errors, elapsed)
    served = sum(len(values) for values in results.values())
    if cpu is not None and served:
        print(f"server CPU per request: app {cpu[0] * 1000 / served:.1f} ms, database "
              f"{cpu[1] * 1000 / served:.1f} ms (gunicorn workers and their PostgreSQL "
              f"backends, from /proc; warm-up pass excluded)")


def _pct(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000


def report(results, errors, elapsed):
    everything = [v for values in results.values() for v in values]
    print(f"\n{'page':<26}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for label in sorted(results):
        values = results[label]
        print(f"{label:<26}{len(values):>9}{statistics.median(values) * 1000:>9.0f}"
              f"{_pct(values, .95):>9.0f}{_pct(values, .99):>9.0f}")
    if everything:
        print(f"{'all':<26}{len(everything):>9}{statistics.median(everything) * 1000:>9.0f}"
              f"{_pct(everything, .95):>9.0f}{_pct(everything, .99):>9.0f}")
    print(f"\nduration {elapsed:.0f} s, throughput {len(everything) / elapsed:.1f} requests/s, "
          f"errors {sum(errors.values())}")
    for label, count in errors.most_common():
        print(f"  error {label}: {count}")


if __name__ == "__main__":
    run(parse_args())
