"""A database host that accepts the connection and then says nothing (a firewall that drops
the traffic, a server stuck at start-up, a port that belongs to something else): the one-line
error of ``session-service`` and ``alembic`` says it timed out, within
``SESSION_DB_TIMEOUT_SECONDS``, instead of "failed to answer: no details".

The listener is a real TCP socket that accepts and never replies, on every networked store
kind (SQLite and memory have no server to be silent).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import one_error_line, run
from .test_frictions import alembic, one_alembic_line


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # closed at teardown
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        for conn in accepted:
            conn.close()
        thread.join(timeout=10)


URLS = {
    "postgres": "postgresql://app:s3cret@127.0.0.1:{port}/app",
    "redis": "redis://:s3cret@127.0.0.1:{port}/0",
}


@pytest.mark.parametrize("kind", sorted(URLS))
def test_the_cli_says_a_silent_server_timed_out(
    silent_port: int, tmp_path: Path, kind: str
) -> None:
    url = URLS[kind].format(port=silent_port)
    done = run(
        "stats",
        data_dir=tmp_path,
        env={"SESSION_DB_URL": url, "SESSION_DB_TIMEOUT_SECONDS": "1"},
    )
    line = one_error_line(done)
    assert "timed out" in line, line
    assert "no details" not in line and "s3cret" not in line, line
    assert f"127.0.0.1:{silent_port}" in line  # which server


def test_alembic_says_a_silent_server_timed_out(silent_port: int, tmp_path: Path) -> None:
    url = URLS["postgres"].format(port=silent_port)
    done = alembic(
        "upgrade",
        "head",
        data_dir=tmp_path,
        env={"SESSION_DB_URL": url, "SESSION_DB_TIMEOUT_SECONDS": "1"},
    )
    line = one_alembic_line(done)
    assert "timed out" in line, line
    assert "no details" not in line and "s3cret" not in line, line
