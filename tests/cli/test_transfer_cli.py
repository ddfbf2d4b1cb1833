"""``session-service export``/``import``/``copy`` as an operator runs them (issue 28): the file
is 0600 and never overwrites one, stderr says it holds credentials, nothing prints a key, a
file cut short or garbled fails with its line number, and the counts at the end are exact."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from session_service.records import utcnow

from .test_cli import SCRIPT, Cli, _clean_env, cli, ok, one_error_line, seed, session

__all__ = ["cli"]

pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in path.read_text().splitlines()]


def test_export_writes_a_private_file_with_a_header_and_exact_counts(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    made = seed(db_url, session("alice"), session("bob", "acme"), session("eve", expired=True))
    dump = tmp_path / "out.jsonl"
    done = cli("export", "-o", str(dump))
    assert ok(done).strip() == f"exported 2 live sessions to {dump}"
    assert "live credentials" in done.stderr
    assert dump.stat().st_mode & 0o777 == 0o600
    header, *body, end = lines(dump)
    assert header["format"] == "session-service-export" and header["version"] == 1
    assert [row["type"] for row in body] == ["session", "session"]
    assert end == {"type": "end", "sessions": 2, "limits": 0, "counters": 0}
    for record in made:  # the file is the only place a key appears
        assert record.id not in done.stdout + done.stderr
    again = cli("export", "-o", str(dump))
    assert "never overwrites" in one_error_line(again)
    assert len(lines(dump)) == 4  # the first export is intact
    acme = cli("export", "--tenant", "acme")
    assert [row.get("user_id") for row in map(json.loads, acme.stdout.splitlines()[1:-1])] == [
        "bob"
    ]
    assert acme.stderr.strip().endswith("exported 1 live session to stdout")


@pytest.mark.stores("sqlite")
def test_export_refuses_to_print_credentials_to_a_terminal(db_url: str, tmp_path: Path) -> None:
    seed(db_url, session("alice"))
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(SCRIPT), "export"],
            env=_clean_env(tmp_path, {"SESSION_DB_URL": db_url}),
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 1 and "terminal" in done.stderr


def test_import_counts_written_unchanged_and_expired_and_twice_changes_nothing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    seed(db_url, session("alice"), session("bob"), session("carol"))
    dump = tmp_path / "out.jsonl"
    ok(cli("export", "-o", str(dump)))
    ok(cli("clear-all", "--yes"))
    rows = lines(dump)
    rows[1]["expiry_date"] = (utcnow() - timedelta(seconds=1)).isoformat()  # ended meanwhile
    dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = json.loads(ok(cli("import", str(dump), "--json")))
    assert first["session"] == {"written": 2, "unchanged": 0, "expired": 1}
    piped = subprocess.run(
        [str(SCRIPT), "import", "-"],
        env=_clean_env(tmp_path, {"SESSION_DB_URL": db_url}),
        input=dump.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    text = ok(piped)
    assert text.startswith("imported 0 sessions; 2 already there"), text
    assert "1 skipped as expired" in text
    assert json.loads(ok(cli("stats", "--json")))["live"] == 2


def test_a_file_cut_short_or_garbled_fails_naming_the_line_only(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    made = seed(db_url, session("alice"), session("bob"))
    dump = tmp_path / "out.jsonl"
    ok(cli("export", "-o", str(dump)))
    ok(cli("clear-all", "--yes"))
    short = tmp_path / "short.jsonl"
    short.write_text("".join(dump.read_text().splitlines(keepends=True)[:-1]))
    cut = cli("import", str(short))
    assert cut.returncode == 1 and "cut short" in cut.stderr and "imported 2 sessions" in cut.stderr
    garbled = tmp_path / "garbled.jsonl"
    body = dump.read_text().splitlines(keepends=True)
    garbled.write_text(body[0] + body[1][:40] + "\n" + "".join(body[2:]))
    line = one_error_line(cli("import", str(garbled)))
    assert "line 2 " in line and "not JSON" in line
    for record in made:
        assert record.id not in line and record.id[:20] not in line
    not_an_export = tmp_path / "other.jsonl"
    not_an_export.write_text('{"hello": 1}\n')
    assert "header" in one_error_line(cli("import", str(not_an_export)))


def test_counters_travel_with_the_flag(cli: Cli, db_url: str, tmp_path: Path) -> None:
    seed(db_url, session("alice"))
    dump = tmp_path / "out.jsonl"
    assert "rate-limit" not in ok(cli("export", "-o", str(dump)))
    with_counters = tmp_path / "all.jsonl"
    text = ok(cli("export", "--counters", "-o", str(with_counters)))
    assert "with 0 rate-limit logs and 0 counters" in text


def test_copy_refuses_memory_and_the_same_store(cli: Cli, db_url: str) -> None:
    seed(db_url, session("alice"))
    memory = cli("copy", "--to", "memory://")
    assert memory.returncode == 2 and "another process" in memory.stderr
    assert "same store" in one_error_line(cli("copy", "--to", db_url))


def test_every_transfer_command_says_what_it_does(cli: Cli) -> None:
    for name in ("export", "import", "copy"):
        text = ok(cli(name, "--help"))
        assert "examples:" in text and "session-service" in text


@pytest.mark.stores("sqlite")
def test_copy_shows_progress_on_a_terminal_and_exact_counts(db_url: str, tmp_path: Path) -> None:
    seed(db_url, *(session(f"user{i}") for i in range(5)))
    (tmp_path / "target").mkdir()
    target = f"sqlite+aiosqlite:///{tmp_path / 'target' / 'sessions.sqlite'}"
    env = _clean_env(tmp_path, {})
    migrate = [str(SCRIPT), "--db-url", target, "migrate"]
    ok(subprocess.run(migrate, capture_output=True, text=True, env=env, timeout=60, check=False))
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(SCRIPT), "copy", "--to", target, "--batch-size", "2"],
            env=_clean_env(tmp_path, {"SESSION_DB_URL": db_url}),
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=False,
        )
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert "copied 2…" in shown and "copied 4…" in shown and "copied 5…" in shown
    assert done.stdout.startswith("copied 5 sessions; 0 already there"), done.stdout
