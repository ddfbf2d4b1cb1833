"""The exported store contract as a store author meets it: a test module of their own, plain
pytest with no asyncio plugin, and a store that breaks a rule fails the test named after it.

Each test runs pytest in a subprocess on a module written to a temporary directory (outside
this project, so none of its configuration applies), with pytest-asyncio switched off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_MODULE = textwrap.dedent(
    '''
    import secrets

    from session_service import MemorySessionStore, SessionRecord, SessionStore
    from session_service.storable import at_rest_id
    from session_service.stores.memory import forget
    from session_service.testing import StoreContractTests


    class OverwritingStore(MemorySessionStore):
        """Breaks one rule: create writes over a session whose id is taken."""

        async def create(self, record: SessionRecord) -> SessionRecord:
            await self.save(record)
            return record


    class _Memory(StoreContractTests):
        store_class: type[MemorySessionStore] = MemorySessionStore

        async def make_store(self) -> SessionStore:
            self.url = f"memory://contract_{secrets.token_hex(6)}"
            return self.store_class(self.url)

        async def close_store(self, store: SessionStore) -> None:
            await store.close()
            forget(self.url)

        async def age_session(self, backend, session_id, by):
            # The optional hook: the rules about sessions created long ago run too. A store
            # on SessionStoreBase files each session under at_rest_id(its id).
            backend.store._space.sessions[at_rest_id(session_id)].created_at -= by


    class TestGoodStore(_Memory):
        pass


    class TestOverwritingStore(_Memory):
        store_class = OverwritingStore
    '''
)


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_my_store.py").write_text(_MODULE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider",
         "-q", "-rfEs", "test_my_store.py", *args],
        cwd=directory, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _failed(output: str) -> set[str]:
    return {
        line.split(" ", 1)[1].split(" - ", 1)[0]
        for line in output.splitlines()
        if line.startswith("FAILED ")
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return _pytest(tmp_path_factory.mktemp("contract"))


def test_a_store_that_overwrites_on_create_fails_the_rule_named_after_it(
    run: subprocess.CompletedProcess[str],
) -> None:
    failed = _failed(run.stdout)
    rule = "test_my_store.py::TestOverwritingStore::test_create_never_overwrites_a_taken_id"
    assert rule in failed, run.stdout[-3000:]
    assert all("::TestOverwritingStore::" in name for name in failed), sorted(failed)
    assert all("create" in name for name in failed), sorted(failed)


def test_a_store_that_keeps_every_rule_passes_the_whole_suite_under_plain_pytest(
    run: subprocess.CompletedProcess[str],
) -> None:
    """Every test runs (none skipped for want of an async plugin) and the correct store passes
    them all: the contract needs nothing but pytest."""
    summary = run.stdout.strip().splitlines()[-1]
    assert "skipped" not in summary and "error" not in summary, run.stdout[-3000:]
    assert "warnings" not in summary, run.stdout[-3000:]
    assert not [name for name in _failed(run.stdout) if "::TestGoodStore::" in name]
    assert "passed" in summary
