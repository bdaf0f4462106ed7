"""The first day after ``make run``: every demo role signs in and its home shows real figures.

The bank is built as ``make run`` builds it on a fresh clone: a new database, ``flask crm init``,
then ``flask crm demo`` (a small one here), through the same commands. Each demo role then signs
in for the first time in Chromium (accepting the confidentiality agreement, as real staff do)
and must find drawn charts with non-zero figures on the home page, not empty axes or empty
states.
"""
from __future__ import annotations

import json
import re

import pytest
from flask_migrate import upgrade

from tests.browser.conftest import serve
from tests.support.services import migration_app

CUSTOMERS = 400
LOGIN = re.compile(r"^  (\S+) / (\S+) / (\w+) / (.+)$", re.MULTILINE)
# Panels that must hold figures on a demo bank's first day, per role.
EXPECTED = {
    "SeniorManager": {"tiers", "tasks", "channels", "flow", "movement"},
    "BranchManager": {"tiers", "tasks", "channels", "flow"},
    "RelationshipManager": {"tiers", "tasks", "channels", "flow"},
    "Teller": {"tiers", "channels"},
    "Operator": {"jobs"},
    "Auditor": {"jobs"},
}


@pytest.fixture(scope="module")
def demo_bank(tmp_path_factory):
    """A live server over a fresh database loaded like ``make run`` does; the demo logins."""
    with migration_app(tmp_path_factory.mktemp("first-day-home")) as app:
        with app.app_context():
            upgrade()
        runner = app.test_cli_runner()
        init = runner.invoke(args=["crm", "init"])
        assert init.exit_code == 0, init.output
        demo = runner.invoke(args=["crm", "demo", "--customers", str(CUSTOMERS), "--seed", "42"])
        assert demo.exit_code == 0, demo.output
        assert "first day incomplete" not in demo.output, demo.output
        logins = {}
        for username, password, role, _branch in LOGIN.findall(
                demo.output.split("demo logins", 1)[1]):
            logins.setdefault(role, (username, password))
        with serve(app, "first-day-server") as url:
            yield url, logins


def sign_in_first_time(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("form input[type=submit], form button[type=submit]").first.click()
    assert "/login" not in page.url, f"login as {username} failed"
    if "/agreement" in page.url:  # first sign-in: the confidentiality agreement
        page.check("#accept")
        with page.expect_navigation():
            page.click("#agreement-submit")
    page.goto(f"{base}/")


def panel_figures(page) -> dict[str, list]:
    """Per panel on the page: the numbers its chart draws (every trace's y, or pie values)."""
    found = {}
    for panel in page.locator(".dashboard-panel").all():
        key = (panel.get_attribute("id") or "").removeprefix("panel-")
        numbers = []
        for chart in panel.locator("[data-figure]").all():
            figure = json.loads(chart.get_attribute("data-figure"))
            for trace in figure.get("data", []):
                values = trace.get("values") or trace.get("y") or trace.get("x") or []
                numbers += [v for v in values if isinstance(v, (int, float))]
        found[key] = numbers
    return found


def check_home(page, role: str, username: str) -> None:
    figures = panel_figures(page)
    missing = {key for key in EXPECTED[role] if not any(figures.get(key, []))}
    assert not missing, f"{role} ({username}): no figures in {sorted(missing)}; got {figures}"
    drawn_but_zero = sorted(key for key, numbers in figures.items()
                            if numbers and not any(numbers))
    assert not drawn_but_zero, f"{role}: charts of nothing but zeros in {drawn_but_zero}"
    # Plotly (served by the app) drew them.
    page.wait_for_selector("#dashboard .js-plotly-plot svg", state="attached", timeout=20_000)


def test_each_demo_role_finds_figures_on_its_first_home(page, shoot, demo_bank):
    base, logins = demo_bank
    steps = {"SeniorManager": "01-senior-manager-home", "BranchManager": "02-branch-manager-home",
             "RelationshipManager": "03-relationship-manager-home", "Teller": "04-teller-home",
             "Operator": "05-operator-home", "Auditor": "06-auditor-home"}
    assert set(steps) == set(EXPECTED)
    for role, step in steps.items():
        assert role in logins, f"the demo has no {role} login"
        username, password = logins[role]
        sign_in_first_time(page, base, username, password)
        shoot(step)
        check_home(page, role, username)
        page.goto(f"{base}/logout/")


def test_two_senior_managers_can_sign_in(page, demo_bank):
    """Maker-checker needs a second senior manager: the demo prints both logins."""
    base, _logins = demo_bank
    # The demo's login list holds every user; the second senior manager is ``senior2``.
    sign_in_first_time(page, base, "senior2", "Demo-Passw0rd!2026")
    assert page.locator("#panel-tiers [data-figure]").count() == 1
