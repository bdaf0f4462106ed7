"""SCREENSHOTS.md names every screenshot the browser workflows write, and nothing else.

The issue's closing note cites that list to say what each role saw; a step added, renamed or
dropped in a workflow without the list following would leave the note wrong. Reads the test
sources (no browser needed): every step name literal (``"07-..."``) inside a ``test_`` function,
or inside a helper of its module that it calls, is a screenshot ``<test>-<step>.png``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEP = re.compile(r"^\d\d-[a-z0-9-]+$")


def _steps_and_calls(function: ast.FunctionDef) -> tuple[set[str], set[str]]:
    steps, calls = set(), set()
    for node in ast.walk(function):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and STEP.match(node.value):
            steps.add(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.add(node.func.id)
    return steps, calls


def screenshots_in_sources() -> set[str]:
    """Per test, the step names in its body and in the module's helpers it calls."""
    names = set()
    for source in sorted(HERE.glob("test_*.py")):
        functions = {node.name: _steps_and_calls(node)
                     for node in ast.parse(source.read_text(encoding="utf-8")).body
                     if isinstance(node, ast.FunctionDef)}
        for test in (name for name in functions if name.startswith("test_")):
            seen, todo, steps = set(), [test], set()
            while todo:
                name = todo.pop()
                if name in seen or name not in functions:
                    continue
                seen.add(name)
                steps |= functions[name][0]
                todo.extend(functions[name][1])
            names |= {f"{test}-{step}.png" for step in steps}
    return names


def test_every_screenshot_is_listed_and_every_listed_one_is_taken():
    listed = set(re.findall(r"`(test_[a-z0-9_]+-\d\d-[a-z0-9-]+\.png)`",
                            (HERE / "SCREENSHOTS.md").read_text(encoding="utf-8")))
    taken = screenshots_in_sources()
    assert len(taken) > 40
    assert taken - listed == set(), "screenshots missing from SCREENSHOTS.md"
    assert listed - taken == set(), "SCREENSHOTS.md lists screenshots no test takes"
