"""The wall reads the summary table, never the big ones: every SQL statement its page and JSON
run is recorded, and none reads transactions (nor customers, accounts or the other fact tables
the refresh aggregates). The number of statements does not grow with the bank."""
from __future__ import annotations

import contextlib
import re

import pytest
from sqlalchemy import event

# Tables the summaries are computed from: a wall reading one of them scans per view.
FACT_TABLES = ("transaction", "account", "customer", "interaction", "follow_up", "complaint",
               "churn_score", "campaign_target")
READS = re.compile(r'\b(?:FROM|JOIN)\s+"?(' + "|".join(FACT_TABLES) + r')"?(?![\w])', re.I)


@contextlib.contextmanager
def recorded(app):
    """Every statement run on the app's engine inside the block."""
    from backoffice.extensions import db

    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def fact_reads(statements) -> list[str]:
    return [s for s in statements if READS.search(s)]


@pytest.mark.parametrize("username, url", [
    ("senior", "/datawall/"), ("senior", "/datawall/bank/figures"),
    ("senior", "/datawall/branch/{B2}/"), ("bm1", "/datawall/"),
    ("bm1", "/datawall/branch/{B1}/figures")])
def test_no_wall_request_reads_a_fact_table(app, client_as, world, refreshed, username, url):
    client = client_as(username)
    url = url.format(**world.branches)
    with recorded(app) as statements:
        assert client.get(url).status_code == 200
    assert any("dashboard_summary" in s for s in statements), statements
    assert fact_reads(statements) == []


def test_the_statement_count_does_not_depend_on_the_branch(app, client_as, world, refreshed):
    client = client_as("senior")
    client.get("/datawall/bank/figures")  # the session's first request loads more than the wall
    counts = []
    for code in ("B1", "B2"):
        with recorded(app) as statements:
            client.get(f"/datawall/branch/{world.branches[code]}/figures")
        counts.append(len(statements))
    with recorded(app) as statements:
        client.get("/datawall/bank/figures")
    counts.append(len(statements))
    assert counts[0] == counts[1] and counts[2] == counts[0] - 1  # no branch name to read
    assert counts[0] <= 25  # a handful of grouped summary reads plus the user and permissions


def test_the_check_sees_a_transaction_scan(app, client_as, world):
    """The recorder can fail: the transaction list reads the transaction table."""
    client = client_as("senior")
    with recorded(app) as statements:
        assert client.get("/transactions/list/").status_code == 200
    assert any('"transaction"' in s or " transaction" in s.lower() for s in fact_reads(statements))
