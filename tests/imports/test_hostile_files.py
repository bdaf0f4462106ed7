"""Hostile spreadsheets fail their own upload or batch with a message; no process dies.

Guards the three workbooks that aborted the whole process (SIGABRT from calamine: a gunicorn
or RQ worker with it): a 1.7 KB file declaring 1,048,576 × 16,384 cells, a decompression bomb of
a few MB, and a 1 MB file holding a gigabyte shared string. Each is refused by the cheap checks
with the figures named, on the reader, the CLI, the upload screen and a real forking RQ worker
(which must still be alive to finish its burst). A file that lies about its dimension passes the
cheap checks and is stopped by the parsing child's memory limit; a parse that stalls or uses up
its CPU seconds ends with the time limit named. CSV has line-length and column limits.
"""
from __future__ import annotations

import io
import json
import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import select

from backoffice import stored_text
from backoffice.audit import chain_key
from backoffice.extensions import db
from backoffice.imports import files, reading
from backoffice.imports.reading import ImportFileError
from models.base import utcnow
from models.imports import ImportBatch
from tests.imports.conftest import remove_batches_data, xlsx_bytes
from tests.support import hostile_files, services
from tests.support.web import csrf_token

ROOT = Path(__file__).resolve().parents[2]

# (builder, fragments the refusal must name)
HOSTILE = {
    "dimension": (hostile_files.dimension_bomb, ["1,048,576 × 16,384", "30,000,000"]),
    "zip_bomb": (hostile_files.decompression_bomb, ["3,072.0 MB", "2,048 MB"]),
    "shared_string": (hostile_files.huge_shared_string, ["1,024.0 MB",
                                                         "512 MB"]),
}


@pytest.fixture(scope="module")
def hostile():
    """The hostile workbooks, built once: name -> (bytes, fragments)."""
    return {name: (build(), fragments) for name, (build, fragments) in HOSTILE.items()}


def sparse_workbook(rows: int, columns: str) -> bytes:
    """A workbook with a cell at A1 and one at ``{columns}{rows}``, declared honestly: it passes
    the cheap checks (under the cell limit) but calamine reserves the whole range."""
    sheet = hostile_files.Member.of("xl/worksheets/sheet1.xml", hostile_files._sheet_xml(
        f"A1:{columns}{rows}", '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c>'
        f'</row><row r="{rows}"><c r="{columns}{rows}"><v>1</v></c></row>'))
    return hostile_files._package(sheet)


def test_the_files_are_what_the_issue_describes(hostile):
    assert 1000 < len(hostile["dimension"][0]) < 2000
    assert 2 << 20 < len(hostile["zip_bomb"][0]) < 5 << 20
    assert 500_000 < len(hostile["shared_string"][0]) < 2 << 20


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_reader_refuses_each_with_its_figures(hostile, name):
    data, fragments = hostile[name]
    for attempt in (lambda: reading.open_table(data, "h.xlsx"),
                    lambda: reading.list_sheets(data)):
        with pytest.raises(ImportFileError) as caught:
            attempt()
        message = str(caught.value)
        assert all(fragment in message for fragment in fragments), message


def test_a_lying_dimension_is_stopped_by_the_child_memory_limit():
    """Declares A1, holds XFD1048576: calamine asks for 512 GiB in the child, which dies."""
    data = hostile_files.lying_dimension()
    with pytest.raises(ImportFileError) as caught:
        reading.open_table(data, "liar.xlsx")
    assert "memory limit of 4096 MB" in str(caught.value)
    # the parent is alive and still reads workbooks
    table = reading.open_table(xlsx_bytes(["a"], [["x"]]), "ok.xlsx")
    assert [row.values for chunk in table.chunks() for row in chunk] == [{"a": "x"}]


def test_a_lowered_memory_limit_fails_the_file_not_the_process(app):
    data = sparse_workbook(1_000_000, "T")  # 20,000,000 cells: under the cell limit
    with app.app_context():
        app.config["CRM_IMPORT_PARSE_MEMORY_MB"] = 300
        try:
            with pytest.raises(ImportFileError) as caught:
                reading.open_table(data, "big.xlsx")
        finally:
            app.config.pop("CRM_IMPORT_PARSE_MEMORY_MB")
    assert "memory limit of 300 MB" in str(caught.value)


@pytest.mark.parametrize("stall", ["silent", "cpu_limit"])
def test_a_parse_over_the_time_limit_fails_the_file(app, monkeypatch, stall):
    """The two ways the limit ends a parse, made to happen rather than hoped for from a big
    file (a fast machine parses any file the cheap checks admit within a second): a child that
    says nothing for the limit's length (stopped here) is ended by the parent's wait, and a
    child that used up its CPU seconds dies of SIGXCPU (sent here, as the kernel does)."""
    import signal

    from backoffice.imports import sandbox

    real_popen, started = subprocess.Popen, []

    def stalled(*args, **kwargs):
        child = real_popen(*args, **kwargs)
        started.append(child)
        os.kill(child.pid, signal.SIGSTOP if stall == "silent" else signal.SIGXCPU)
        return child

    monkeypatch.setattr(sandbox.subprocess, "Popen", stalled)
    data = xlsx_bytes(["name"], [["a"]])
    with app.app_context():
        app.config["CRM_IMPORT_PARSE_SECONDS"] = 1
        try:
            with pytest.raises(ImportFileError) as caught:
                for _ in reading.open_table(data, "slow.xlsx").chunks():
                    pass
        finally:
            app.config.pop("CRM_IMPORT_PARSE_SECONDS")
    assert "time limit of 1 seconds" in str(caught.value)
    assert started and all(child.poll() is not None for child in started)  # ended and reaped


def test_an_abandoned_read_ends_its_child():
    data = xlsx_bytes(["a"], [[str(i)] for i in range(5000)])
    before = _children()
    table = reading.open_table(data, "many.xlsx")
    next(iter(table.chunks(10)))  # what the upload's sample does
    del table
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _children() - before


def _children() -> set[int]:
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("data, fragment", [
    (b"a,b\n1," + b"x" * 900_000 + b"," + b"y" * 900_000 + b"\n", "longer than 1,000,000"),
    (",".join(f"c{i}" for i in range(1100)).encode() + b"\n", "1,100 columns; the limit is 1,024"),
])
def test_csv_limits(app, data, fragment):
    with app.app_context():
        app.config["CRM_IMPORT_MAX_LINE_CHARS"] = 1_000_000
        try:
            with pytest.raises(ImportFileError) as caught:
                for _ in reading.open_table(data, "h.csv").chunks():
                    pass
        finally:
            app.config.pop("CRM_IMPORT_MAX_LINE_CHARS")
    assert fragment in str(caught.value)


# --- the CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_cli_refuses_with_the_figures(app, imports, hostile, tmp_path, name):
    data, fragments = hostile[name]
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(data)
    before = db.session.execute(select(db.func.count()).select_from(ImportBatch)).scalar()
    result = app.test_cli_runner().invoke(args=["crm", "import", str(path), "--kind",
                                                "customers"])
    assert result.exit_code == 1
    assert all(fragment in result.output for fragment in fragments), result.output
    assert db.session.execute(select(db.func.count()).select_from(ImportBatch)).scalar() == \
        before


def test_cli_process_survives_a_file_that_passes_the_checks(app, tmp_path, database_url):
    """The real ``flask crm import`` process: exit status 1 and a message, not SIGABRT."""
    path = tmp_path / "liar.xlsx"
    path.write_bytes(hostile_files.lying_dimension())
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "crm", "import",
                             str(path), "--kind", "customers"], cwd=ROOT, env=_env(app),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "4096 MB" in result.stderr


def _env(app, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") and not k.startswith("CRM_")}
    env.update(CRM_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               CRM_INSTANCE_PATH=os.environ.get("CRM_INSTANCE_PATH", str(ROOT / "instance")),
               SECRET_KEY="hostile-test-secret",
               CRM_ENCRYPTION_KEYS=json.dumps(app.config["CRM_ENCRYPTION_KEYS"]),
               CRM_PRIMARY_KEY_ID=app.config["CRM_PRIMARY_KEY_ID"],
               CRM_BLIND_INDEX_KEY=app.config["CRM_BLIND_INDEX_KEY"],
               CRM_AUDIT_CHAIN_KEY=base64.b64encode(app.extensions[chain_key.EXTENSION]).decode(), **extra)
    return env


# --- the upload screen ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE) + ["liar"])
def test_upload_screen_answers_with_the_message(app, cleanup, client_as, hostile, name):
    data, fragments = hostile[name] if name != "liar" else (
        hostile_files.lying_dimension(), ["4096 MB"])
    with app.app_context():
        before = db.session.execute(select(db.func.max(ImportBatch.id))).scalar() or 0
        db.session.remove()
    client = client_as("operator")
    response = client.post("/imports/upload", data={
        "csrf_token": csrf_token(client, "/imports/upload"), "kind": "customers",
        "mode": "atomic", "file": (io.BytesIO(data), f"{name}.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert all(fragment in page for fragment in fragments), page[-3000:]
    with app.app_context():
        assert (db.session.execute(select(db.func.max(ImportBatch.id))).scalar() or 0) == before
        db.session.remove()


# --- a real RQ worker -------------------------------------------------------------------------


@pytest.fixture
def rq_app(app, world, database_url):
    from backoffice import create_app
    from jobs.queue import redis_connection
    from tests.conftest import make_test_config

    redis_url = services.require_redis()
    queue_name = f"crm-test-{uuid.uuid4().hex}"
    job_app = create_app(make_test_config(database_url, REDIS_URL=redis_url,
                                          CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=300))
    with job_app.app_context():
        yield job_app
        db.session.remove()
    Queue(queue_name, connection=redis_connection(redis_url)).delete(delete_jobs=True)


def stored_batch(data: bytes, name: str) -> int:
    """A batch holding ``data`` as its upload, as if it had slipped past the upload's checks
    (limits lowered since, or a file stored by an older version)."""
    batch = ImportBatch(kind="customers", mode="atomic", status="uploaded", filename=name,
                        file_format="xlsx", sha256=reading.sha256_hex(data),
                        size_bytes=len(data), headers=["name"], mapping={"name": "name"},
                        created_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    files.store(db.session, batch.id, "upload", data)
    db.session.commit()
    return batch.id


def test_rq_worker_survives_and_the_batches_fail_with_the_message(rq_app, hostile):
    from jobs.queue import enqueue

    cases = {"liar": (hostile_files.lying_dimension(), ["4096 MB"]),
             **{name: hostile[name] for name in ("dimension", "shared_string")}}
    ids = {name: stored_batch(data, f"{name}.xlsx") for name, (data, _) in cases.items()}
    try:
        for name, batch_id in ids.items():
            enqueue("jobs.imports.dry_run", batch_id, description=f"hostile {name}")
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker", "--burst"],
            cwd=ROOT, env=_env(rq_app, REDIS_URL=rq_app.config["REDIS_URL"],
                               CRM_QUEUE_NAME=rq_app.config["CRM_QUEUE_NAME"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        _, stderr = worker.communicate(timeout=300)
        # --burst: the worker exits 0 only after it ran every job and is still itself
        assert worker.returncode == 0, stderr[-3000:]
        db.session.rollback()
        db.session.expire_all()
        for name, batch_id in ids.items():
            batch = db.session.get(ImportBatch, batch_id)
            assert batch.status == "failed", (name, batch.status, batch.message)
            shown = stored_text.show(batch.message)
            assert all(f in shown for f in cases[name][1]), (name, shown)
    finally:
        remove_batches_data(list(ids.values()))
