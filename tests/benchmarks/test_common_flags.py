"""The flags most benchmarks share (``--pg-url``, ``--redis-url``, ``--no-pg``,
``--no-redis``, ``--seconds``, ``--rounds``) come from ``benchmarks._common``: the servers
from ``BENCH_PG_URL`` / ``BENCH_REDIS_URL`` when set, else the local ones, and every module
that offers them still does."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import _common

ROOT = Path(__file__).resolve().parents[2]


def test_the_servers_default_to_the_environment_then_the_local_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BENCH_PG_URL", raising=False)
    monkeypatch.setenv("BENCH_REDIS_URL", "redis://elsewhere:6379/2")
    p = argparse.ArgumentParser()
    _common.add_server_flags(p, skips=True)
    _common.add_round_flags(p)
    args = p.parse_args(["--no-redis", "--rounds", "3"])
    assert args.pg_url == _common.DEFAULT_PG == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert args.redis_url == "redis://elsewhere:6379/2"
    assert (args.no_pg, args.no_redis, args.seconds, args.rounds) == (False, True, 5.0, 3)
    only_pg = argparse.ArgumentParser()
    _common.add_server_flags(only_pg, redis=False)
    assert vars(only_pg.parse_args([])) == {"pg_url": _common.DEFAULT_PG}


@pytest.mark.parametrize(
    ("module", "flags"),
    [
        ("instructions", ["--pg-url", "--redis-url"]),
        ("login_instructions", ["--pg-url", "--redis-url"]),
        ("lifetime_http", ["--seconds", "--rounds", "--pg-url", "--redis-url", "--no-redis"]),
        ("metrics_http", ["--seconds", "--rounds", "--pg-url", "--no-pg"]),
        ("per_core", ["--seconds", "--rounds", "--pg-url", "--redis-url", "--no-pg"]),
        ("hashed_http", ["--seconds", "--rounds", "--pg-url"]),
        ("profile_requests", ["--pg-url"]),
    ],
)
def test_each_module_still_offers_its_flags(module: str, flags: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for flag in flags:
        assert flag in done.stdout, (module, flag)
