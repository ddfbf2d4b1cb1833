"""The CLI with ``SESSION_CACHE=local`` in the environment it shares with the app: an operator's
one-shot command works on the store itself (no cache, no listener to start), so ``export``,
``dump`` and ``clear-user`` behave exactly as without the setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import run, seed, session

pytestmark = pytest.mark.stores("postgres", "redis")


def test_the_cli_works_on_the_store_when_the_app_caches(db_url: str, tmp_path: Path) -> None:
    seed(db_url, session("alice"), session("bob"))
    env = {"SESSION_DB_URL": db_url, "SESSION_CACHE": "local"}
    dump = tmp_path / "out.jsonl"
    exported = run("export", "-o", str(dump), data_dir=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(dump.read_text().splitlines()[-1])["sessions"] == 2
    cleared = run("clear-user", "alice", data_dir=tmp_path, env=env)
    assert cleared.returncode == 0, cleared.stderr
    listed = run("list-user", "alice", "--json", data_dir=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
