"""``session-service health [--json]`` (docs/operations.md, "Health and readiness"): exit 0
when the store answers, 1 when not, with the password masked, and never a new SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import Cli, cli, run

__all__ = ["cli"]

#: The CLI runs in its own process: memory:// is refused (see test_cli.py).
pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")

PASSWORD = "pw-never-shown-4417"


def test_health_command_exits_0_when_healthy(cli: Cli, store_kind: str) -> None:
    assert cli("migrate").returncode == 0
    done = cli("health", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["store"] == store_kind
    assert set(report) == {"ok", "store", "latency_ms", "detail"}
    text = cli("health")
    assert text.returncode == 0 and text.stdout.startswith(f"healthy: {store_kind} store")


@pytest.mark.parametrize(
    ("down", "kind"),
    [
        (f"postgresql://app:{PASSWORD}@127.0.0.1:1/app", "postgres"),
        (f"redis://:{PASSWORD}@127.0.0.1:1/0", "redis"),
        (f"redis+sentinel://:{PASSWORD}@127.0.0.1:1/mymaster/0", "redis"),
    ],
    ids=["postgres", "redis", "sentinel"],
)
def test_health_command_exits_1_when_down_without_the_password(
    down: str, kind: str, tmp_path: Path
) -> None:
    done = run("health", "--json", data_dir=tmp_path, env={"SESSION_DB_URL": down})
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["store"] == kind
    assert "cannot reach" in report["detail"] and "127.0.0.1:1/" in report["detail"]
    text = run("health", data_dir=tmp_path, env={"SESSION_DB_URL": down})
    assert text.returncode == 1 and text.stdout.startswith(f"UNHEALTHY: {kind} store")
    assert PASSWORD not in done.stdout + done.stderr + text.stdout + text.stderr


def test_health_command_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.sqlite"
    done = run("health", "--json", data_dir=tmp_path, env={"SESSION_DB_URL": f"sqlite:///{path}"})
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and "no session database" in report["detail"]
    assert not path.exists()
