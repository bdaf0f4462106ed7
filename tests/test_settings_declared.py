"""Every ``CRM_*`` setting the code reads is declared, with a comment, in config/settings.py.

Why: a default written at the call site is a second truth that drifts from the first, and an
operator cannot learn what can be set without reading every module. The sources are parsed (not
imported), so the check sees reads in code no test runs: ``config.get("CRM_X")``,
``config["CRM_X"]``, ``os.environ.get("CRM_X")`` / ``os.getenv("CRM_X")`` and
``getattr(obj, "CRM_X")``. Names that are environment switches rather than settings
(``_NOT_SETTINGS`` in config/settings.py) count as declared there.
"""
from __future__ import annotations

import ast
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "config" / "settings.py"
SOURCES = ("backoffice", "jobs", "models", "config", "wsgi.py")


def _crm_name(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and node.value.startswith("CRM_"):
        return node.value
    return None


def reads(tree: ast.AST):
    """(name, line) of every read of a ``CRM_*`` name in one parsed module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            name = _crm_name(node.slice)
            if name:
                yield name, node.lineno
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            position = 1 if called in ("getattr", "hasattr") else 0
            if called in ("get", "getenv", "getattr", "hasattr", "pop", "setdefault") \
                    and len(node.args) > position:
                name = _crm_name(node.args[position])
                if name:
                    yield name, node.lineno


def declarations() -> dict[str, int]:
    """Setting name -> line of its declaration in ``BaseConfig``."""
    tree = ast.parse(SETTINGS.read_text())
    base = next(node for node in tree.body
                if isinstance(node, ast.ClassDef) and node.name == "BaseConfig")
    found = {}
    for node in base.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            if isinstance(target, ast.Name) and target.id.startswith("CRM_"):
                found[target.id] = node.lineno
    return found


def environment_switches() -> set[str]:
    tree = ast.parse(SETTINGS.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_NOT_SETTINGS" for t in node.targets):
            return {element.value for element in node.value.elts}
    return set()


def source_files():
    for entry in SOURCES:
        path = ROOT / entry
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def undeclared_reads(files, declared) -> list[str]:
    problems = []
    for path in files:
        for name, line in reads(ast.parse(path.read_text(), str(path))):
            if name not in declared:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                problems.append(f"{shown}:{line} reads {name}, which "
                                f"config/settings.py does not declare")
    return problems


def test_every_read_setting_is_declared():
    declared = set(declarations()) | environment_switches()
    problems = undeclared_reads(source_files(), declared)
    assert not problems, "\n".join(problems)


def test_every_declared_setting_has_a_comment():
    """A trailing comment, or a comment on the line just above (the group's heading counts)."""
    comments = {}
    with SETTINGS.open() as handle:
        for token in tokenize.generate_tokens(handle.readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.start[1]
    lines = SETTINGS.read_text().splitlines()
    missing = []
    for name, line in declarations().items():
        trailing = line in comments and comments[line] > 0 and lines[line - 1].lstrip()[0] != "#"
        above = (line - 1) in comments and lines[line - 2].lstrip().startswith("#")
        if not (trailing or above):
            missing.append(f"config/settings.py:{line} declares {name} without a comment")
    assert not missing, "\n".join(missing)


def test_the_scanner_sees_every_kind_of_read(tmp_path):
    """The parser finds each form of read, so a green result means the sources have none."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "a = config.get('CRM_ZZ_ONE', 3)\n"
        "b = current_app.config['CRM_ZZ_TWO']\n"
        "c = os.environ.get('CRM_ZZ_THREE')\n"
        "d = os.getenv('CRM_ZZ_FOUR')\n"
        "e = getattr(settings, 'CRM_ZZ_FIVE', None)\n"
        "config['CRM_ZZ_WRITTEN'] = 1\n")
    found = sorted(reads(ast.parse(sample.read_text())))
    assert found == [("CRM_ZZ_FIVE", 6), ("CRM_ZZ_FOUR", 5), ("CRM_ZZ_ONE", 2),
                     ("CRM_ZZ_THREE", 4), ("CRM_ZZ_TWO", 3)]
    problems = undeclared_reads([sample], {"CRM_ZZ_ONE", "CRM_ZZ_THREE", "CRM_ZZ_FOUR",
                                           "CRM_ZZ_FIVE"})
    assert problems == [f"{sample}:3 reads CRM_ZZ_TWO, which config/settings.py does not declare"]
