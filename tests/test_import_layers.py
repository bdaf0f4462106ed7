"""The import-layer contract: dependencies point one way, from features down to the core.

Every module under ``backoffice/``, ``jobs/``, ``config/`` and ``models/`` is parsed (not
imported, so nothing is hidden by an import cycle or a failing import), and each of its imports
is read: module-level and inside functions, ``from`` and plain, relative and absolute, and
``import_module`` / ``import_string`` calls given a literal name. The rules:

- ``config/`` (settings, roles) is read by everything and reads nothing of the application;
- ``models/`` (tables) knows nothing of the screens or the jobs that use them;
- the core (``CORE`` below) imports only the core, ``config`` and ``models``: a feature plugs
  into it through the registries it offers (360 panels, dashboard panels, the export handler),
  never the other way round;
- the feature rooms (the packages under ``backoffice/``) import each other in no cycle, beyond
  the ones listed in ``KNOWN_CYCLES``.

An edge that breaks a rule today and is too large to fix in passing is listed in
``KNOWN_DEBT`` with its reason. The list may only shrink: a listed edge that no longer exists
fails the test, so that the list stays a true account of what is left.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("backoffice", "jobs", "config", "models")
APP = ("backoffice", "jobs")
"""The application above ``config`` and ``models``."""
DYNAMIC_IMPORTERS = {"import_module", "import_string", "__import__"}

CORE = {
    # one reason per line: what the module is to every feature
    "backoffice.extensions": "the shared db, CSRF and migrate objects",
    "backoffice.errors": "error types and the error pages every view answers with",
    "backoffice.request_args": "malformed list/API arguments answer 400 before any view",
    "backoffice.lazy_text": "escaping of names interpolated into lazy translations",
    "backoffice.stored_text": "messages stored as message ids, shown in the reader's language",
    "backoffice.security.permissions": "whether a user holds a permission (never a role name)",
    "backoffice.formatting": "how values are shown (dates, money, codes) on every screen",
    "backoffice.datamodel": "the SQLAlchemy interface every view's datamodel is built on",
    "backoffice.pagination": "keyset pages of every list",
    "backoffice.list_rows": "the rows of every list page, written with FAB's markup",
    "backoffice.views_base": "the base view and API classes every screen derives from",
    "backoffice.list_filters": "the exact-match text filters the base list view offers",
    "backoffice.config_cache": "the process cache of configuration tables",
    "backoffice.menu_cache": "the navigation menu rendered once per visible set",
    "backoffice.translations_memo": "Flask-Babel lookups once per request",
    "backoffice.security.policy": "who may see which field of a customer",
    "backoffice.security.scopes": "which records a user may see (the session's record scope)",
    "backoffice.security.masking": "how a field the user may not read in full is shown",
    "backoffice.security.current": "the current user, and 404 where a record is not the user's",
    "backoffice.security.holders": "who holds a grant in a branch (escalation targets)",
    "backoffice.security.field_hooks": "custom fields and the review rule, registered by their "
                                        "features at start-up for the policy to ask",
    "backoffice.security.presentation": "one place where a row is masked for screens and APIs",
    "backoffice.security.encrypted_fields": "search and API fields of encrypted columns",
    "backoffice.audit.log": "the operation-log writer every feature calls",
    "backoffice.audit.redact": "what the log writer strips from a detail before writing it",
    "backoffice.audit.chain": "the hash chain the log writer extends",
    "backoffice.audit.chain_key": "the key of that hash chain",
    "backoffice.customers.panels": "the registry of 360-page panels features plug into",
    "backoffice.customers.labels": "the column labels of customer data, on every screen, API, "
                                   "log entry and change request that names a customer field",
    "backoffice.customers.rules": "the rules a customer record satisfies whichever path writes "
                                  "it (form, API, review approval, import)",
    "backoffice.security.key_rotation": "the sealed data features keep outside the encrypted "
                                        "columns, registered for key rotation and status",
    "backoffice.security.user_load": "the registry of values a request reads with its user "
                                     "(one statement opens a signed-in request)",
    "backoffice.dashboards.registry": "the registry of dashboard panels features plug into",
    "backoffice.events": "the event outbox features publish to and consumers read",
    "backoffice.suitability": "the suitability rule every offer of a product obeys (campaign "
                              "gates, next-best offers)",
}

KNOWN_DEBT: dict[tuple[str, str], str] = {}


def module_names() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's ``__init__``)."""
    found = {}
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


MODULES = module_names()


def _absolute(name: str, package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if package else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import in module ``name``, at any depth."""
    path, package = MODULES[name]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, package, node)
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                sub = f"{module}.{alias.name}"
                found.append((sub if sub in MODULES else module, node.lineno))
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in DYNAMIC_IMPORTERS:
                found.append((node.args[0].value.split(":")[0], node.lineno))
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _under(module: str, tops) -> bool:
    return any(module == top or module.startswith(top + ".") for top in tops)


def _where(name: str, target: str, line: int) -> str:
    path = MODULES[name][0].relative_to(ROOT)
    return f"{path}:{line} ({name}) imports {target}"


def _edges(importers, forbidden) -> list[tuple[str, str, int]]:
    return [(name, target, line) for name in importers for target, line in GRAPH[name]
            if forbidden(target)]


def test_the_parser_sees_function_level_imports():
    """The contract is only as good as the parse: a known import inside a function is found."""
    targets = dict(GRAPH["backoffice.exports"])
    assert "backoffice.imports.export_requests" in targets
    assert "backoffice.audit.log" in targets


def test_config_imports_nothing_of_the_application():
    bad = _edges([n for n in MODULES if _under(n, ("config",))], lambda t: _under(t, APP))
    assert not bad, "config/ must not import the application:\n" + "\n".join(
        _where(*edge) for edge in bad)


def test_models_import_nothing_of_the_application():
    bad = _edges([n for n in MODULES if _under(n, ("models",))], lambda t: _under(t, APP))
    assert not bad, "models/ must not import backoffice or jobs:\n" + "\n".join(
        _where(*edge) for edge in bad)


def test_core_modules_exist():
    missing = sorted(set(CORE) - set(MODULES))
    assert not missing, f"CORE names modules that are gone: {missing}"


def _core_violations():
    return _edges(sorted(CORE), lambda t: _under(t, APP) and t not in CORE)


def test_the_core_imports_no_feature():
    """A core module imports only the core, config and models (and libraries)."""
    new = [edge for edge in _core_violations() if edge[:2] not in KNOWN_DEBT]
    assert not new, (
        "a core module imports feature code (plug the feature in through a registry instead):\n"
        + "\n".join(_where(*edge) for edge in new))


def test_known_debt_only_shrinks():
    """Every listed exception still exists: a fixed one must leave the list."""
    present = {edge[:2] for edge in _core_violations()}
    gone = [edge for edge in KNOWN_DEBT if edge not in present]
    assert not gone, "fixed, remove from KNOWN_DEBT: " + ", ".join(
        f"{importer} -> {imported}" for importer, imported in gone)


def test_known_debt_is_core_to_feature():
    """KNOWN_DEBT holds only core-to-non-core edges with a reason, not a blanket allowance."""
    for (importer, imported), reason in KNOWN_DEBT.items():
        assert importer in CORE and imported not in CORE, (importer, imported)
        assert reason.strip(), (importer, imported)


# --- package cycles between feature rooms ------------------------------------------------------

ROOMS = sorted(name for name, (path, package) in MODULES.items()
               if package and name.count(".") == 1 and name.startswith("backoffice."))
"""The feature rooms: the packages directly under ``backoffice/``."""

KNOWN_CYCLES = {
    # Rooms that import each other through non-core modules, found when the contract was first
    # checked; each is to be cut by a registry in the core, as the core's own edges were. The
    # set may only shrink: a cut cycle (or a smaller one left) must be written here as it is.
}


def _room(module: str) -> str | None:
    return next((room for room in ROOMS if _under(module, (room,))), None)


def room_edges() -> dict[str, set[str]]:
    """Room -> rooms it imports, through non-core modules on both ends (an import of a core
    module, or by one, is the core's business and follows the core's rule)."""
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        source = _room(name)
        if source is None or name in CORE:
            continue
        for target, _line in GRAPH[name]:
            room = _room(target)
            if room is not None and room != source and target not in CORE:
                edges.setdefault(source, set()).add(room)
    return edges


def cycles(edges: dict[str, set[str]]) -> set[frozenset]:
    """The strongly connected groups of more than one room (Tarjan)."""
    index, low, stack, found, counter = {}, {}, [], set(), [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_no_new_package_cycles():
    """Feature rooms form no import cycle beyond the known ones, and those only shrink."""
    present = cycles(room_edges())
    new = [sorted(group) for group in present if group not in KNOWN_CYCLES]
    assert not new, ("rooms import each other in a cycle (plug one into the other through a "
                     "registry in the core instead); if a known cycle was cut down, write what "
                     f"is left of it in KNOWN_CYCLES: {new}")
    gone = [sorted(group) for group in KNOWN_CYCLES if group not in present]
    assert not gone, f"cycles no longer there, remove them from KNOWN_CYCLES: {gone}"


# --- imports that may not fail ---------------------------------------------------------------

REQUIREMENTS = ROOT / "requirements.txt"


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(getattr(kind, "id", None) in ("ImportError", "ModuleNotFoundError")
               for kind in kinds)


def _pinned() -> set[str]:
    names = {line.split("==")[0].strip().lower().replace("-", "_")
             for line in REQUIREMENTS.read_text().splitlines() if "==" in line}
    return names | {"flask", "rq", "sqlalchemy", "werkzeug", "sklearn"}  # import names


def guarded_in(source: str, name: str, pinned: set[str]) -> list[tuple[int, str]]:
    """``(line, module)`` of each import of the application, or of a package
    ``requirements.txt`` pins, inside a ``try`` that catches ImportError, in ``source`` (the
    module ``name``). A guard around a *private* name of a third party
    (``sklearn.calibration._CalibratedClassifier``) is the one kind allowed: that name may go in
    any release."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Try) or not any(map(_catches_import_error, node.handlers)):
            continue
        for inner in node.body:
            for child in ast.walk(inner):
                if isinstance(child, ast.Import):
                    modules, names = [alias.name for alias in child.names], []
                elif isinstance(child, ast.ImportFrom):
                    modules = [child.module or "" if not child.level else name]
                    names = [alias.name for alias in child.names]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    private = any(part.startswith("_") for part in module.split(".") + names)
                    if top in LAYERS or (top.lower() in pinned and not private):
                        found.append((child.lineno, module))
    return found


def test_the_guard_finder_finds_a_planted_guard():
    planted = ("def f():\n    try:\n        from backoffice.audit.log import record\n"
               "    except ImportError:\n        return\n")
    assert guarded_in(planted, "x", set()) == [(3, "backoffice.audit.log")]
    optional = ("try:\n    from sklearn.calibration import _Private\n"
                "except ImportError:\n    pass\n")
    assert guarded_in(optional, "x", {"sklearn"}) == []


def test_no_import_of_the_application_is_guarded():
    """Such a guard only ever hides a broken install or an import cycle (one once skipped
    operation-log writes silently): an import that cannot fail is written plainly."""
    pinned = _pinned()
    found = [f"{path.relative_to(ROOT)}:{line} {module}"
             for name, (path, _package) in MODULES.items()
             for line, module in guarded_in(path.read_text(encoding="utf-8"), name, pinned)]
    assert not found, f"imports guarded by except ImportError: {found}"
