"""The product's modules import each other in one direction: no cycle, not even through a late import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "app" / "two_factor"


def module_name(path: Path) -> str:
    """Return a module's dotted name inside the package ("views", "factors.security_key")."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Return the product's modules a module imports anywhere in its body (functions and TYPE_CHECKING too)."""
    here = module_name(path)
    package = here.split(".")[:-1] if path.stem != "__init__" else here.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - (node.level - 1)]
        target = ".".join([*base, *(node.module.split(".") if node.module else [])])
        # "from .factors import credential_store" names a module; "from .state import state" a module's name.
        submodules = {".".join(filter(None, [target, alias.name])) for alias in node.names} & modules
        found.update(submodules or {target if target in modules else target.rsplit(".", 1)[0]})
    return (found & modules) - {here}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_product_imports_itself_through_others() -> None:
    paths = [path for path in PACKAGE.rglob("*.py") if module_name(path)]
    modules = {module_name(path) for path in paths}
    packages = {module_name(path) for path in paths if path.stem == "__init__"}
    graph = {module_name(path): imports_of(path, modules) - packages for path in paths if path.stem != "__init__"}
    assert "factors.security_key" in graph and "views" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
