"""Greetings, campaigns and service notices reach customers through ``backoffice.messaging``
only: none of them imports another (not even inside a function), and messaging imports none of
them. The old homes of the channels, the send ledger and the consent ledger are gone."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("greetings", "campaigns", "service")


def _imports(package: str) -> set[tuple[str, str]]:
    """(file, imported module) for every import in the package, at any depth of the code."""
    found = set()
    for path in (ROOT / "backoffice" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(path.name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add((path.name, node.module))
                found |= {(path.name, f"{node.module}.{alias.name}") for alias in node.names}
    return found


@pytest.mark.parametrize("package", FEATURES)
def test_a_messaging_feature_imports_no_other(package):
    others = [f"backoffice.{name}" for name in FEATURES if name != package]
    wrong = sorted((file, module) for file, module in _imports(package)
                   if any(module == o or module.startswith(o + ".") for o in others))
    assert wrong == []


def test_messaging_imports_none_of_its_users():
    users = [f"backoffice.{name}" for name in FEATURES]
    wrong = sorted((file, module) for file, module in _imports("messaging")
                   if any(module == u or module.startswith(u + ".") for u in users))
    assert wrong == []


@pytest.mark.parametrize("package", FEATURES)
def test_each_feature_uses_messaging(package):
    assert any(module.startswith("backoffice.messaging") for _, module in _imports(package))


@pytest.mark.parametrize("old", ["backoffice.greetings.channels", "backoffice.greetings.claims",
                                 "backoffice.service.consent"])
def test_the_old_homes_are_gone(old):
    assert importlib.util.find_spec(old) is None
