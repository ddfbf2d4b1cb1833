"""The layout the store contract promises: named capabilities, a backend without forwarding,
each database's differences in its own package, no import cycle, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import session_service
from session_service import SessionStore, SessionStoreBackend
from session_service.stores.protocol import (
    ExpiryStore,
    PerRequestStore,
    StatsStore,
    StoreLifecycle,
    UserIndexStore,
)

PACKAGE = Path(session_service.__file__).parent
#: The part of the package this layout covers: the stores, the limits, what they share.
COVERED = ("stores", "limits", "storable.py", "backend.py", "records.py", "devices.py")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if not str(rel).startswith(COVERED):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(["session_service", *parts])] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ``known`` that importing ``name`` runs: what it imports (type-only and
    function-level too) and the packages of those, but not its own packages (running)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            while target and target in known:
                if target != name and not name.startswith(target + "."):
                    out.add(target)
                target = target.rpartition(".")[0]
    return out


def test_the_stores_and_limits_have_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in done:
                visit(nxt, [*trail, nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])


def test_no_store_or_limits_module_is_over_400_lines() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: lines for n, lines in long.items() if lines > 400} == {}


def test_shared_sql_code_never_asks_which_database_it_is_on() -> None:
    shared = [p for p in (PACKAGE / "stores" / "sql").glob("*.py")]
    asks = re.compile(r"""(kind|dialect\.name|name)\s*[!=]=\s*["'](postgres|postgresql|sqlite)""")
    found = {p.name: asks.findall(p.read_text()) for p in shared}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_stale_module_names_are_gone_from_the_stores() -> None:
    stale = re.compile(r"_hot_path|_dialects|_sql_admin|_sql_store|\[dialect\]")
    hits = [
        f"{p.relative_to(PACKAGE)}: {m}"
        for p in (PACKAGE / "stores").rglob("*.py")
        for m in stale.findall(p.read_text())
    ]
    assert hits == []


def test_limits_never_reach_into_a_store() -> None:
    for path in (PACKAGE / "limits").glob("*.py"):
        text = path.read_text()
        assert "stores" not in re.findall(r"from \.\.(\w+)", text), path.name
        assert not re.search(r"store\.(hot|client|key_prefix|_space)\b", text), path.name


async def test_session_store_is_the_union_of_its_capabilities(
    backend: SessionStoreBackend,
) -> None:
    capabilities = (StoreLifecycle, PerRequestStore, UserIndexStore, ExpiryStore, StatsStore)
    assert all(c in SessionStore.__mro__ for c in capabilities)
    assert all(isinstance(backend.store, c) for c in (SessionStore, *capabilities))


async def test_the_backend_hands_out_the_store_s_own_methods(
    backend: SessionStoreBackend,
) -> None:
    assert "__getattr__" not in vars(SessionStoreBackend)
    store = backend.store
    for name in ("load", "update", "touch", "patch", "create", "clear_sessions_for_user"):
        assert getattr(backend, name) == getattr(store, name), name


def test_no_module_of_the_package_is_over_400_lines() -> None:
    """Small modules with one job each, everywhere in the package (the web layer included)."""
    package = Path(__file__).resolve().parents[2] / "session_service"
    long = {
        p.relative_to(package).as_posix(): n
        for p in package.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
