"""Which part may import which (ARCHITECTURE.md, "Which part may use which"; STYLE.md, "Layout
inside api/"), checked on the source with ``ast`` and by importing modules in fresh interpreters.

- The session-per-request dependency lives in ``api.db``; ``api.gateway.idempotency`` and
  ``api.deps`` import it from there, at the top: no import cycle hidden by an import at the
  bottom of a module or inside a function.
- Services return domain objects (models, small frozen dataclasses); routers build the schemas.
- The services of accounts, applications and cards leave every query to their repositories.
- The dashboards import nothing of the API package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
DASHBOARDS = ROOT / "dashboards"

# The modules of the session dependency and the idempotency mechanism, which imported each other.
_CYCLE_MODULES = {"api.db", "api.deps", "api.gateway.idempotency"}


def _modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement names (``from a import b`` names ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif node.module is not None and node.level == 0:
        yield node.module
        yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _all_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom))


def _names(nodes: Iterable[ast.Import | ast.ImportFrom], *, under: str) -> list[str]:
    """Where the import statements name the module ``under`` or one inside it."""
    return [
        f"line {node.lineno}: {name}"
        for node in nodes
        for name in _imported(node)
        if name == under or name.startswith(f"{under}.")
    ]


def _nested_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports inside a function or a class body."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def _late_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Module-level imports that come after code (what ``# noqa: E402`` hides)."""
    seen_code = False
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if seen_code:
                yield node
        elif isinstance(node, ast.If):  # ``if TYPE_CHECKING:`` blocks of imports
            continue
        elif not (index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            seen_code = True


@pytest.mark.parametrize("path", _modules(API), ids=_name)
def test_no_api_module_imports_after_its_code(path: Path) -> None:
    late = [f"line {node.lineno}" for node in _late_imports(_tree(path))]
    assert late == [], f"{_name(path)} imports after its code (a hidden cycle?): {late}"


@pytest.mark.parametrize("path", _modules(API), ids=_name)
def test_the_session_and_idempotency_modules_are_imported_at_the_top(path: Path) -> None:
    nested = [
        found for module in _CYCLE_MODULES for found in _names(_nested_imports(_tree(path)), under=module)
    ]
    assert nested == [], f"{_name(path)} imports inside a function: {nested}"


@pytest.mark.parametrize("module", sorted(_CYCLE_MODULES))
def test_each_dependency_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """A cycle breaks the import of whichever module of it comes first: try each one first."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("domain", ["accounts", "applications", "cards"])
def test_services_do_not_import_their_schemas(domain: str) -> None:
    """A service returns domain objects; its router builds the response schema from them."""
    path = API / domain / "service.py"
    found = _names(_all_imports(_tree(path)), under=f"api.{domain}.schemas")
    assert found == [], f"api/{domain}/service.py imports its schemas: {found}"


_QUERY_BUILDERS = {"select", "insert", "update", "delete", "text"}
_SERVICES = [
    "accounts/service.py",
    "applications/service.py",
    "applications/credit_limits.py",
    "cards/service.py",
    "network/service.py",
]


@pytest.mark.parametrize("module", _SERVICES)
def test_these_services_leave_their_queries_to_the_repositories(module: str) -> None:
    """No query built or run in the service: ``repository.select_*`` / ``lock_*`` do that."""
    path = API / module
    tree = _tree(path)
    found = [
        f"line {node.lineno}: {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in _QUERY_BUILDERS
    ] + [
        f"line {node.lineno}: session.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "get", "get_one", "scalar", "scalars"}
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "session"
    ]
    assert found == [], f"api/{module} queries the database itself: {found}"


@pytest.mark.parametrize("path", _modules(DASHBOARDS), ids=_name)
def test_the_dashboards_import_nothing_of_the_api(path: Path) -> None:
    found = _names(_all_imports(_tree(path)), under="api")
    assert found == [], f"{_name(path)} imports the API package: {found}"
