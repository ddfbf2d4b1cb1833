"""No import cycle in the package, type-only imports included.

A cycle makes the layers a reader sees in the folder names untrue (a module "below" imports
one "above"), and a type-only one is a run-time cycle waiting for the first annotation that
becomes an ``isinstance``. Every module's imports are read from its source (``ast``): the ones
at module level, those under ``if TYPE_CHECKING:``, and, in the second test, those inside
functions too (imported lazily to keep an optional extra optional, but a dependency all the
same). An edge goes to the module named, or to the submodule when ``from package import
submodule``; a package's ``__init__`` is a module like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "session_service"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path, *, in_functions: bool) -> Iterator[str]:
    """The package's modules ``module`` imports (each may repeat)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = ast.walk(tree) if in_functions else _outside_functions(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    yield submodule
                elif base in MODULES:
                    yield base


def _outside_functions(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those in a function body (module level, classes, ``if`` blocks such
    as ``if TYPE_CHECKING:``, ``try`` blocks)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                pending.append(child)


def _graph(*, in_functions: bool) -> dict[str, set[str]]:
    return {
        module: set(_imports(module, path, in_functions=in_functions)) - {module}
        for module, path in MODULES.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path back to its start) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_path_in(graph, group) for group in groups]


def _path_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = [[start]]
    while paths:  # breadth first: the shortest way back to start
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & group):
            if w == start:
                return [*path, start]
            if w not in path:
                paths.append([*path, w])
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _shown(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_reader_finds_a_cycle() -> None:
    """The checker itself: a cycle, through a relative and a type-only import, is found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert "session_service.errors" in _graph(in_functions=False)["session_service.records"]


def test_no_import_cycle_among_module_level_and_type_only_imports() -> None:
    cycles = _cycles(_graph(in_functions=False))
    assert not cycles, "import cycles:\n" + _shown(cycles)


def test_no_import_cycle_counting_imports_inside_functions() -> None:
    cycles = _cycles(_graph(in_functions=True))
    assert not cycles, "import cycles:\n" + _shown(cycles)
