"""Customer import speed: CSV and XLSX through the real import (validation, encryption, blind
index, set-based upsert), beside PostgreSQL COPY of the same sealed rows (the physical limit)
and a naive one-ORM-object-per-row insert, measured in the same run.

    .venv/bin/python benchmarks/import_speed.py --rows 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/crm_bench [--repeat 3] \\
        [--memory-rows 1000000]

The database is migrated to head first (one holding customers that no benchmark loaded is
refused); the customers the run creates are removed at the end.
The CSV import runs ``--repeat`` times, each run followed by the COPY baseline and starting from
the same table, and the medians of both are printed beside every run: the host's speed drifts
(the same code measured a quarter faster or slower from one run to the next on 2 shared cores),
and a run of each, side by side, shows the import's share of the physical limit however fast the
host is at that moment.
``--memory-rows`` also measures the peak memory (max RSS) of a child process streaming a CSV of
that many rows through the dry run (read, validate, resolve, plan: everything but the writes).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OFFSETS = {"BC": 0, "BX": 5_000_000, "BP": 10_000_000, "BN": 15_000_000, "BW": 20_000_000,
           "M": 0}
HEADER = ["客户号", "姓名", "身份证号", "手机号", "邮箱", "地址", "支行", "职业"]


def prc_id(serial: int) -> str:
    from models.validators import prc_id_check_digit

    birth = dt.date(1940, 1, 1) + dt.timedelta(days=serial // 1000)  # unique per serial
    first17 = f"110101{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + prc_id_check_digit(first17)


def rows(prefix: str, n: int):
    for i in range(n):
        yield [f"{prefix}{i:09d}", f"客户{i}", prc_id(i + OFFSETS.get(prefix, 0)), f"139{i:08d}",
               f"u{i}@example.com", f"上海市浦东新区测试路{i}号", "BENCH", "工程师"]


def write_csv(handle, prefix: str, n: int) -> None:
    """Write the CSV to a binary ``handle`` row by row (never the whole text in memory)."""
    import csv

    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(HEADER)
    for row in rows(prefix, n):
        writer.writerow(row)
    text.flush()
    text.detach()


def csv_data(prefix: str, n: int) -> bytes:
    buffer = io.BytesIO()
    write_csv(buffer, prefix, n)
    return buffer.getvalue()


def xlsx_data(prefix: str, n: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for row in rows(prefix, n):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_app(url: str):
    os.environ.setdefault("CRM_INSTANCE_PATH", "/tmp/crm-bench-instance")
    from backoffice import create_app
    from benchmarks._safety import claim

    claim(url)  # it migrates and writes customers: never into a database holding real ones
    from models.crypto import KeyRing

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      **KeyRing.generate("bench").to_settings(), "REDIS_URL": None,
                      "CRM_IMPORT_DEFAULT_BRANCH": "BENCH"})
    with app.app_context():
        from flask_migrate import upgrade

        from backoffice.extensions import db
        from models import Branch

        upgrade(revision="heads")
        if not db.session.execute(db.select(Branch).where(Branch.code == "BENCH")).scalar():
            db.session.add(Branch(code="BENCH", name="Benchmark branch"))
            db.session.commit()
    return app


def timed_import(data: bytes, name: str) -> tuple[float, dict]:
    from backoffice.extensions import db
    from backoffice.imports import pipeline, service

    started = time.perf_counter()
    batch, _ = service.upload(db.session, data, name, "customers")
    summary = pipeline.commit(db.session, batch.id)
    return time.perf_counter() - started, summary


def warmup(n: int) -> None:
    """One small import before the timed ones, removed after: a worker imports file after
    file, and the first import of a process also pays for loading code and preparing
    statements (about 5 % of a 100,000-row import's time, seen on 2 cores)."""
    try:
        seconds, summary = timed_import(csv_data("BW", n), "warmup.csv")
        print(f"warm-up      {n} rows: {seconds:.2f} s (created {summary['created']}; "
              "not counted)")
    finally:
        cleanup(("BW",))


def copy_baseline(prefix: str, n: int) -> float:
    """COPY of the same rows, already sealed, into a table like ``customer`` (indexes too)."""
    from backoffice.extensions import db
    from models import crypto

    sealed = []
    for row in rows(prefix, n):
        sealed.append(crypto.seal_row("customer", {
            "customer_no": row[0], "name": row[1], "id_number": row[2], "mobile": row[3],
            "email": row[4], "address": row[5], "occupation": row[7]}))
    columns = ["customer_no", "name", "record_uid", "id_number_enc", "id_number_bidx",
               "mobile_enc", "mobile_bidx", "email_enc", "address_enc", "occupation"]
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE customer INCLUDING ALL)")
        connection.commit()
        started = time.perf_counter()
        with cursor.copy(f"COPY bench_copy ({', '.join(columns)}, branch_id, customer_type, "
                         "id_type, status, custom_fields, version, created_at, updated_at, "
                         "consent_sms, consent_email, consent_phone, consent_wechat, "
                         "flag_elderly, flag_disability, flag_vip) FROM STDIN") as copy:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for row in sealed:
                copy.write_row([row[c] for c in columns] + [
                    1, "individual", "PRC_ID", "active", "{}", 1, now, now] + [False] * 7)
        connection.commit()
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
        connection.commit()
    finally:
        connection.close()
    return seconds


def naive_baseline(prefix: str, n: int) -> float:
    """One ORM object per row, flushed one at a time (what a hand-written loop does)."""
    from backoffice.extensions import db
    from models import Branch, Customer

    branch_id = db.session.execute(db.select(Branch.id).where(Branch.code == "BENCH")).scalar()
    started = time.perf_counter()
    for row in rows(prefix, n):
        db.session.add(Customer(customer_no=row[0], name=row[1], id_number=row[2],
                                mobile=row[3], email=row[4], address=row[5], occupation=row[7],
                                branch_id=branch_id, custom_fields={}))
        db.session.flush()
    db.session.commit()
    return time.perf_counter() - started


def cleanup(prefixes) -> None:
    from backoffice.extensions import db
    from models import Customer

    for prefix in prefixes:
        db.session.execute(db.delete(Customer).where(Customer.customer_no.like(f"{prefix}%")))
    db.session.commit()
    vacuum()


def vacuum() -> None:
    """Reclaim what earlier runs deleted: every run inserts and removes a few hundred thousand
    customers, and a table left with millions of dead rows (autovacuum lags behind) made the
    same code measure half as fast."""
    from backoffice.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("customer", "import_row_change", "audit_log"):
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {table}")


def memory_child(url: str, n: int) -> None:
    """In a child process: stream an n-row CSV through the dry run; print the max RSS.

    The file is generated into a temporary file first, so the figure is the import's, not the
    generator's: the process then holds the file's bytes (as an upload does), stores them with
    the batch, and streams them through read, validate, resolve and plan.
    """
    import tempfile

    app = make_app(url)
    with app.app_context():
        from backoffice.extensions import db
        from backoffice.imports import pipeline, service

        with tempfile.TemporaryFile() as handle:
            write_csv(handle, "M", n)
            handle.seek(0)
            data = handle.read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        batch, _ = service.upload(db.session, data, "memory.csv", "customers")
        size = len(data)
        del data
        started = time.perf_counter()
        summary = pipeline.dry_run(db.session, batch.id)
        seconds = time.perf_counter() - started
    print(json.dumps({"rows": summary["rows"], "rejected": summary["rejected"],
                      "file_mib": round(size / 2**20, 1), "seconds": round(seconds, 1),
                      "rss_before_upload_mib": round(before, 1),
                      "max_rss_mib": round(resource.getrusage(
                          resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--database-url", help="a scratch PostgreSQL database (or "
                        "CRM_BENCH_DATABASE_URL); one holding customers is refused")
    parser.add_argument("--naive-rows", type=int, default=5000,
                        help="rows for the naive baseline (it is slow)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="CSV imports (each followed by the COPY baseline); the medians "
                        "are printed too: on a shared host one run can be a quarter slower "
                        "or faster than the next")
    parser.add_argument("--warmup-rows", type=int, default=2000,
                        help="rows of an import run (and removed) before the timed ones")
    parser.add_argument("--memory-rows", type=int, default=0)
    parser.add_argument("--memory-only", action="store_true",
                        help="measure only the peak memory of the --memory-rows dry run")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    if args.memory_child:
        memory_child(args.database_url, args.memory_rows)
        return
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if not args.memory_only:
        speed(args)
    if args.memory_rows:
        memory(args)
    print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def speed(args) -> None:
    app = make_app(args.database_url)
    with app.app_context():
        if args.warmup_rows:
            warmup(args.warmup_rows)
        vacuum()
        try:
            csv_bytes = csv_data("BC", args.rows)
            csv_rates, copy_rates = [], []
            for run in range(1, args.repeat + 1):
                if run > 1:
                    cleanup(("BC",))  # every run starts from the same table
                seconds, summary = timed_import(csv_bytes, f"bench-{run}.csv")
                csv_rates.append(args.rows / seconds)
                print(f"CSV import   {args.rows} rows: {seconds:.2f} s = "
                      f"{args.rows / seconds:,.0f} rows/s  (created {summary['created']}, "
                      f"rejected {summary['rejected']}; run {run} of {args.repeat})")
                seconds = copy_baseline("BP", args.rows)
                copy_rates.append(args.rows / seconds)
                print(f"COPY         {args.rows} sealed rows: {seconds:.2f} s = "
                      f"{args.rows / seconds:,.0f} rows/s  (baseline: the physical limit; "
                      f"run {run} of {args.repeat})")
            csv_median, copy_median = median(csv_rates), median(copy_rates)
            print(f"CSV import   median of {args.repeat}: {csv_median:,.0f} rows/s; COPY median "
                  f"{copy_median:,.0f} rows/s; CSV as a share of COPY: "
                  f"{csv_median / copy_median:.0%}")
            xlsx = xlsx_data("BX", args.rows)
            seconds, summary = timed_import(xlsx, "bench.xlsx")
            print(f"XLSX import  {args.rows} rows: {seconds:.2f} s = "
                  f"{args.rows / seconds:,.0f} rows/s  (created {summary['created']})")
            again, summary = timed_import(csv_bytes, "bench-again.csv")
            print(f"CSV again    {args.rows} rows: {again:.2f} s = {args.rows / again:,.0f} "
                  f"rows/s  (unchanged {summary['unchanged']}, created {summary['created']})")
            n = min(args.naive_rows, args.rows)
            seconds = naive_baseline("BN", n)
            print(f"naive ORM    {n} rows, one object and flush per row: {seconds:.2f} s = "
                  f"{n / seconds:,.0f} rows/s  (baseline)")
        finally:
            cleanup(("BC", "BX", "BN"))


def memory(args) -> None:
    if args.memory_rows:
        child = subprocess.run([sys.executable, __file__, "--memory-child", "--memory-rows",
                                str(args.memory_rows), "--database-url", args.database_url],
                               capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"memory       {result['rows']} row CSV ({result['file_mib']} MiB, "
              f"{result['rejected']} rejected) streamed through the dry run in "
              f"{result['seconds']} s: peak {result['max_rss_mib']} MiB RSS (process before "
              f"the upload: {result['rss_before_upload_mib']} MiB)")


if __name__ == "__main__":
    main()
