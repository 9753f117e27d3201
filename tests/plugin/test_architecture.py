"""The house rules of docs/explanation/architecture.md, checked on the source itself.

Imports are read with :mod:`ast` (type-only imports under ``TYPE_CHECKING`` and imports
inside functions count too), so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intentusnet_core", "pytest_intentusnet")
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _from_base(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a ``from X import ...`` in module *name* (at *path*) reads from."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return base


def _imports(name: str, path: Path) -> set[str]:
    """Every project module *name* imports, anywhere in its body."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(name, path, node)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in MODULES and target != name}


# A package's __init__ re-exports lazily (PEP 562) and is imported by every submodule: its
# arrows are the lazy map, not a dependency of the package's own modules on each other.
GRAPH = {name: _imports(name, path) for name, path in MODULES.items()
         if path.name != "__init__.py"}
for _edges in GRAPH.values():
    _edges.difference_update({"intentusnet_core", "pytest_intentusnet"})


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_was_read() -> None:
    assert GRAPH["intentusnet_core.runtime"] >= {"intentusnet_core.routing"}
    assert "pytest_intentusnet.session" in GRAPH


def test_no_import_cycle_in_either_package() -> None:
    assert _cycle() is None


def test_the_core_never_imports_the_plugin() -> None:
    upward = {name: sorted(t for t in targets if t.startswith("pytest_intentusnet"))
              for name, targets in GRAPH.items() if name.startswith("intentusnet_core")}
    assert {name: targets for name, targets in upward.items() if targets} == {}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_size_limit(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines; split it by idea"


def test_routing_holds_routing_only() -> None:
    source = MODULES["intentusnet_core.routing"].read_text(encoding="utf-8")
    for foreign in ("threading.Thread", "asyncio.wait_for", "ExecutionRecorder(",
                    "set_ambient_binding", "Future("):
        assert foreign not in source


def test_ci_runs_ruff_and_mypy_strict_and_fails_on_either() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in script
    commands = [line.strip() for line in script.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert any(line.startswith(".venv/bin/ruff check .") for line in commands)
    assert any(".venv/bin/mypy --strict" in line and "intentusnet_core" in line
               and "pytest_intentusnet" in line for line in commands)
    # neither is allowed to fail quietly
    assert not any(("ruff" in line or "mypy" in line) and ("|| true" in line or
                                                          "|| :" in line) for line in commands)


def _declared_all(name: str) -> set[str] | None:
    for node in ast.parse(MODULES[name].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__all__"
                for target in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def test_modules_import_only_what_others_export() -> None:
    """A name taken from another project module is in that module's ``__all__``: nothing
    reaches into another module's private parts."""
    offending = []
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base not in MODULES:
                continue
            exported = _declared_all(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    continue  # a submodule
                if exported is None or alias.name not in exported:
                    offending.append(f"{name} imports {base}.{alias.name}")
    assert offending == []


def test_no_submodule_is_taken_as_a_package_attribute() -> None:
    """``from . import mod`` reads the package's attribute when it is set, even after a
    harness (pytester's in-process runs) restored ``sys.modules`` without ``mod``: the
    importer then holds a stale copy whose classes fail ``isinstance`` against the fresh
    ones. Submodules are imported by their full name (``import pkg.mod as mod``)."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = _from_base(name, path, node)
                found += [f"{name}: from {'.' * node.level}{node.module or ''} import "
                          f"{alias.name}" for alias in node.names
                          if f"{base}.{alias.name}" in MODULES]
    assert found == []
