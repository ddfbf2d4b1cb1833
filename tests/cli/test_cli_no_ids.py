"""Issue 25: the CLI never shows a session id or its stored hash, in any output, on a real
store (``dump``, ``list-user``, ``stats``, with and without ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from session_service.storable import at_rest_id

from .test_cli import Cli, ok, run, seed, session

pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    def call(*args: str, **kwargs: Any) -> Any:
        return run(*args, data_dir=tmp_path, env={"SESSION_DB_URL": db_url}, **kwargs)

    return call


def test_no_output_shows_an_id_or_its_hash(db_url: str, cli: Cli) -> None:
    records = seed(db_url, session("alice"), session("alice", "acme"), session(None))
    secrets = [r.id for r in records] + [at_rest_id(r.id) for r in records]
    outputs = [
        ok(cli(*args))
        for args in (
            ("dump",),
            ("dump", "--json"),
            ("list-user", "alice"),
            ("list-user", "alice", "--json"),
            ("stats", "--json"),
            ("count-user", "alice"),
        )
    ]
    for out in outputs:
        for secret in secrets:
            assert secret not in out
            assert secret[:12] not in out  # not even a prefix
    dumped = json.loads(outputs[1])
    sessions = dumped["sessions"] if isinstance(dumped, dict) else dumped
    assert sorted(s["handle"] for s in sessions) == sorted(r.handle or "" for r in records)
