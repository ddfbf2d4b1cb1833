"""Without PostgreSQL, ``make test`` says why its PostgreSQL half is skipped once, with the
command that runs it, instead of once per skipped test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_no_postgres_skip_reason_is_printed_once() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_TEST_")}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # no testcontainers either
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/stores/test_contract.py", "-k", "postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if "PostgreSQL tests need a server" in line]
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("SKIPPED [") and "make test.session.all" in lines[0]
