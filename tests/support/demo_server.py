"""The demo app (``make run``) under a real uvicorn process on a free port, for the tests that
drive it like a person would: over HTTP (``test_demo_e2e``) and in Chromium
(``test_demo_browser``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_demo(db_url: str, data_dir: Path, **env: str) -> Iterator[str]:
    """Serve examples.demo:app on ``db_url``; yields its base URL once it answers."""
    port = free_port()
    full_env = {**os.environ, "SESSION_DATA_DIR": str(data_dir), "SESSION_DB_URL": db_url, **env}
    full_env.pop("SESSION_SECRET_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.demo:app", "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:  # wait until the server answers (bounded), not a fixed sleep
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"demo did not start:\n{out}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
