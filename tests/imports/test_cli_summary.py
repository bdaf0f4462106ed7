"""The command line's summary says why rows were rejected, not only how many.

An operator who runs ``flask crm import`` and reads "rejected: 10000" must not have to open the
workbook to learn that every row lacked a branch: the JSON names the most common problems with
their column, row count and first row.
"""
from __future__ import annotations

import json

from tests.imports.test_good_and_bad_rows import HEADER, good_rows


def test_summary_lists_the_most_common_problems(app, imports, tmp_path):
    made = good_rows("CLS", 8)  # distinct ID numbers and mobiles: no duplicates in the file
    rows, unknown_branch, bad_mobile = made[:3], made[3:7], made[7]
    for row in unknown_branch:
        row[7] = "NO-SUCH-BRANCH"
    bad_mobile[4] = "12345"
    body = rows[:1] + unknown_branch + rows[1:] + [bad_mobile]  # header is row 1
    path = tmp_path / "branches.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(",".join(r) for r in body) + "\n",
                    encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["crm", "import", str(path), "--kind",
                                                "customers", "--mode", "skip-bad"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["created"], summary["rejected"]) == (3, 5), summary
    problems = summary["common_problems"]
    assert [(p["column"], p["rows"], p["first_row"]) for p in problems] == \
        [("支行", 4, 3), ("手机号", 1, 9)], problems
    assert all(p["message"] for p in problems)


def test_no_problems_key_when_nothing_is_rejected(app, imports, tmp_path):
    path = tmp_path / "good.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(",".join(r) for r in good_rows(
        "CLG", 2)) + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["crm", "import", str(path), "--kind",
                                                "customers"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rejected"] == 0 and "common_problems" not in summary
