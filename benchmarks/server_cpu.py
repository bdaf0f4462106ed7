"""Server CPU per page (app and database, from /proc), this checkout beside a baseline checkout.

Starts one single-worker gunicorn per checkout on the same loaded PostgreSQL database (this one,
and ``--baseline``: a worktree of an older commit sharing this virtualenv), logs in the demo's
senior manager, a branch manager and a relationship manager on each, and requests every page
type ``--requests`` times per round, one request at a time, alternating the servers round by
round. CPU is read from ``/proc/<pid>/stat`` (user + system) of the gunicorn worker and of the
PostgreSQL backends serving it (found by ``application_name``), before and after each batch, so
the figure is the server's own work per page whatever else runs on the machine; wall time per
request (as the client saw it) is printed beside it, and moves with the machine's load.

    python benchmarks/server_cpu.py --database-url postgresql://postgres@127.0.0.1:5432/crm_bench \
        --instance-path /path/to/instance --baseline /tmp/baseline-worktree [--requests 60]

The database is read, never rebuilt (360 pages append to its operation log); load one with
``benchmarks/screens.py --customers 20000`` first. PostgreSQL must run on this machine (its
backends' /proc entries are read).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._server import (  # noqa: E402
    DEMO_PASSWORD, Client, children, cpu_seconds, start_gunicorn, stop)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a loaded PostgreSQL database (or "
                        "CRM_BENCH_DATABASE_URL); read, never rebuilt")
    parser.add_argument("--instance-path", default=os.environ.get("CRM_INSTANCE_PATH"))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of the commit to compare with (its .venv may be a "
                             "symlink to this one's)")
    parser.add_argument("--requests", type=int, default=60, help="requests per page and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    args = parser.parse_args(argv)
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL")
    return args


class Server:
    """A single-worker gunicorn of one checkout, its worker pid and its database backends."""

    def __init__(self, name: str, checkout: Path, args):
        self.name = name
        self.app_name = f"crm-cpu-bench-{name}-{os.getpid()}"
        self.process, self.base = start_gunicorn(
            checkout, args.database_url, workers=1, app_name=self.app_name,
            instance_path=args.instance_path, name=f"{name}: gunicorn")
        self.worker = children(self.process.pid)[0]

    def backends(self, conn) -> list[int]:
        from sqlalchemy import text

        return list(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": self.app_name}).scalars())

    def stop(self):
        stop(self.process)


def sample_urls(args) -> tuple[dict, dict]:
    """Usernames per role and, per role, customer ids that role may open."""
    from sqlalchemy import create_engine, text

    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        users = dict(conn.execute(text(
            "SELECT r.name, min(u.username) FROM ab_user u JOIN ab_user_role ur ON "
            "ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id GROUP BY r.name")).all())
        ids = {}
        for role, condition in (("SeniorManager", "true"),
                                ("BranchManager", "c.branch_id = u.branch_id"),
                                ("RelationshipManager", "c.owner_id = u.id")):
            ids[role] = list(conn.execute(text(
                f"SELECT c.id FROM customer c, ab_user u WHERE u.username = :u AND {condition} "
                f"ORDER BY c.id LIMIT 200"), {"u": users[role]}).scalars())
    engine.dispose()
    return users, ids


PAGES = (
    ("customer list (senior manager)", "SeniorManager", "list"),
    ("customer list (branch manager)", "BranchManager", "list"),
    ("customer list (relationship mgr)", "RelationshipManager", "list"),
    ("360 page (senior manager)", "SeniorManager", "show"),
    ("360 page (relationship mgr)", "RelationshipManager", "show"),
)


def run(args):
    from sqlalchemy import create_engine

    users, ids = sample_urls(args)
    checkouts = [("new", ROOT)] + ([("old", args.baseline.resolve())] if args.baseline else [])
    servers = [Server(name, path, args) for name, path in checkouts]
    monitor = create_engine(args.database_url).connect()
    results = {(server.name, page[0]): {"app": 0.0, "db": 0.0, "n": 0, "wall": []}
               for server in servers for page in PAGES}
    try:
        clients = {}
        for server in servers:
            for role in {role for _label, role, _kind in PAGES}:
                client = Client(server.base)
                client.login(users[role], args.password)
                clients[server.name, role] = client
        rng = random.Random(3)
        for round_number in range(args.rounds):
            for server in (servers if round_number % 2 == 0 else servers[::-1]):
                for label, role, kind in PAGES:
                    client = clients[server.name, role]
                    paths = [("/customers/list/" if kind == "list"
                              else f"/customers/show/{rng.choice(ids[role])}")
                             for _ in range(args.requests)]
                    for path in paths[:3]:  # warm: templates compiled, caches filled
                        client.request("GET", path)
                    backends = server.backends(monitor)
                    app0 = cpu_seconds(server.worker)
                    db0 = sum(cpu_seconds(pid) for pid in backends)
                    for path in paths:
                        started = time.perf_counter()
                        status, _loc, _body = client.request("GET", path)
                        results[server.name, label]["wall"].append(time.perf_counter() - started)
                        if status != 200:
                            raise SystemExit(f"{server.name}: GET {path} answered {status}")
                    entry = results[server.name, label]
                    entry["app"] += cpu_seconds(server.worker) - app0
                    entry["db"] += sum(cpu_seconds(pid) for pid in backends) - db0
                    entry["n"] += len(paths)
    finally:
        monitor.close()
        for server in servers:
            server.stop()
    report(results, [s.name for s in servers], args)


def report(results, names, args):
    print(f"server CPU per request (ms, from /proc: gunicorn worker + its PostgreSQL backends), "
          f"{args.rounds} rounds x {args.requests} requests per page; load average "
          "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    header = f"{'page':<34}"
    for name in names:
        header += f"{name + ' app':>10}{name + ' db':>9}{name + ' total':>11}{name + ' wall p50':>14}"
    print(header)
    for label, _role, _kind in PAGES:
        line = f"{label:<34}"
        for name in names:
            entry = results[name, label]
            n = max(1, entry["n"])
            app, db = entry["app"] * 1000 / n, entry["db"] * 1000 / n
            line += (f"{app:>10.1f}{db:>9.1f}{app + db:>11.1f}"
                     f"{statistics.median(entry['wall']) * 1000:>14.1f}")
        print(line)


if __name__ == "__main__":
    run(parse_args())
