"""Per-request overhead of the operation log and field encryption.

Runs the same requests twice in one process against one database: once as the product runs
(every read of a customer logged, hash-chained, every sensitive value decrypted and masked), once
with the log's writes and the cipher stubbed out (rows not appended; decrypt and encrypt answered
from a cache of the real plaintexts). The difference is what the security features cost per
request. Prints p50/p95/mean per request type for both, and the overhead.

    python benchmarks/request_overhead.py [--customers 2000] [--requests 300]
        [--database-url postgresql://postgres@127.0.0.1:5432/crm_bench]

Without --database-url a temporary SQLite file is used. The database is emptied first; one
holding customers no benchmark loaded is refused.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import BENCH_PASSWORD as PASSWORD  # noqa: E402
from benchmarks._server import load_demo_bank, login_test_client, scratch_app  # noqa: E402

build_app = scratch_app  # the emptied, migrated scratch database (tests/test_benchmarks_safe.py)


def seed(app, customers: int):
    return load_demo_bank(app, customers, PASSWORD)


def login(app, username="senior"):
    return login_test_client(app, username, PASSWORD)


def measure(client, ids, requests: int, rng: random.Random) -> dict:
    """Milliseconds per request for each kind of request."""
    kinds = {
        "360 page": lambda pk: f"/customers/show/{pk}",
        "API get customer": lambda pk: f"/api/v1/customer/{pk}",
        "customer list": lambda pk: "/customers/list/",
    }
    timings = {}
    for name, url_of in kinds.items():
        samples = []
        for _ in range(requests):
            url = url_of(rng.choice(ids))
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        samples.sort()
        timings[name] = {"p50": samples[len(samples) // 2],
                         "p95": samples[int(len(samples) * 0.95) - 1],
                         "mean": statistics.fmean(samples)}
    return timings


@contextlib.contextmanager
def security_stubbed():
    """The log appends nothing; the cipher answers from a cache of real plaintexts."""
    from backoffice.audit import chain
    from models import crypto

    real_append = chain.append
    real_decrypt, real_encrypt = crypto.KeyRing.decrypt, crypto.KeyRing.encrypt
    plain = {}

    def cached_decrypt(self, token, aad):
        if token not in plain:
            plain[token] = real_decrypt(self, token, aad)
        return plain[token]

    def cached_encrypt(self, plaintext, aad):
        key = (plaintext, aad)
        if key not in plain:
            plain[key] = real_encrypt(self, plaintext, aad)
        return plain[key]

    chain.append = lambda connection, rows: [{"id": None, "row_hash": ""} for _ in rows]
    crypto.KeyRing.decrypt, crypto.KeyRing.encrypt = cached_decrypt, cached_encrypt
    try:
        yield
    finally:
        chain.append = real_append
        crypto.KeyRing.decrypt, crypto.KeyRing.encrypt = real_decrypt, real_encrypt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"),
                        help="a scratch database (default: a temporary SQLite file); one "
                             "holding customers no benchmark loaded is refused")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='crm-bench-')}/bench.db"
    app = build_app(url)
    ids = seed(app, args.customers)
    client = login(app)
    measure(client, ids, 20, random.Random(0))  # warm up caches and connections
    with security_stubbed():
        measure(client, ids, 20, random.Random(0))
        baseline = measure(client, ids, args.requests, random.Random(1))
    secured = measure(client, ids, args.requests, random.Random(1))
    print(f"database: {url.split('@')[-1]}  customers: {args.customers}  "
          f"requests per kind: {args.requests}")
    print(f"{'request':<20}{'secured p50/p95/mean ms':>28}{'baseline p50/p95/mean ms':>30}"
          f"{'overhead (mean)':>18}")
    for name in secured:
        s, b = secured[name], baseline[name]
        print(f"{name:<20}{s['p50']:>10.1f}{s['p95']:>9.1f}{s['mean']:>9.1f}"
              f"{b['p50']:>12.1f}{b['p95']:>9.1f}{b['mean']:>9.1f}"
              f"{s['mean'] - b['mean']:>+11.1f} ms ({(s['mean'] / b['mean'] - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
