"""``make cli`` and ``make run-fastapi``: the README's ways to reach the CLI and the FastAPI
example without knowing where the virtualenv keeps them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env["SESSION_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_make_cli_runs_the_command_line_with_global_options_first(tmp_path: Path) -> None:
    assert _make("cli", "ARGS=migrate", data_dir=tmp_path).returncode == 0
    done = _make("cli", "ARGS=--json stats", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == 0


def test_make_run_fastapi_uses_its_own_data_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SESSION_DATA_DIR"}
    done = subprocess.run(
        ["make", "-n", "run-fastapi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "examples.fastapi_app:app" in done.stdout
    assert ".session-data-fastapi" in done.stdout
