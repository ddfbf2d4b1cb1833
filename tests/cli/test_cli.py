"""The ``session-service`` command line, run as a real process against SQLite and PostgreSQL.

Each test seeds its private database through the store API, runs the installed console script
(once ``python -m session_service``) the way an operator or a cron job would, and checks what
they would notice: the sentence or JSON on stdout, the one line on stderr, the exit code, and
which sessions are left. Expired sessions are made by saving a past expiry, never by waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.cli import build_parser, main
from session_service.records import new_session_id
from session_service.stores.protocol import StoreStats

from ..conftest import SCHEMA_HEAD as HEAD

SCRIPT = shutil.which("session-service", path=os.path.dirname(sys.executable))
DOWN_URL = "postgresql://u:s3cret@127.0.0.1:1/none"
HOSTILE = "'; DROP TABLE sessions; --"
UNICODE_USER = "ünï-用户-😀"
#: The CLI runs in its own process: memory:// is refused (test_memory_url_is_refused_with_exit_2).
pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


# -- running the CLI ---------------------------------------------------------------------------


def _clean_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without any session settings of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env.pop("DEPLOYMENT", None)
    return {**env, "SESSION_DATA_DIR": str(data_dir), **extra}


def run(
    *args: str,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    module: bool = False,
    stderr: int = subprocess.PIPE,
) -> subprocess.CompletedProcess[str]:
    """Run the console script (or ``python -m session_service``) to completion."""
    assert SCRIPT is not None, "the session-service console script is not installed"
    command = [sys.executable, "-m", "session_service"] if module else [SCRIPT]
    return subprocess.run(
        [*command, *args],
        env=_clean_env(data_dir, env or {}),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


class Cli(Protocol):
    def __call__(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    """The CLI pointed at this test's database through ``SESSION_DB_URL``, as an app would be."""

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run(*args, data_dir=tmp_path, env={"SESSION_DB_URL": db_url}, **kwargs)

    return call


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """stdout of a run that must have succeeded (the failure shows what it said instead)."""
    assert result.returncode == 0, (result.returncode, result.stderr)
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("session-service: ")
    return lines[0]


# -- the database, through the store API -------------------------------------------------------


def session(user: str | None, tenant: str | None = None, *, expired: bool = False) -> SessionRecord:
    data: dict[str, Any] = {"cart": [1, 2], "csrf": "tok-NOT-FOR-SCREENS"}
    if user is not None:
        data["user_id"] = user
    when = datetime.now(UTC) + (timedelta(hours=-1) if expired else timedelta(hours=1))
    return SessionRecord(id=new_session_id(), data=data, expiry_date=when, tenant_id=tenant)


def with_store(url: str, work: Callable[[SessionStoreBackend], Any]) -> Any:
    async def go() -> Any:
        backend = await SessionStoreBackend.connect(url)
        try:
            return await work(backend)
        finally:
            await backend.close()

    return asyncio.run(go())


def seed(url: str, *records: SessionRecord) -> list[SessionRecord]:
    async def work(b: SessionStoreBackend) -> None:
        await b.migrate()
        for record in records:
            await b.save(record)

    with_store(url, work)
    return list(records)


def owners(url: str) -> list[tuple[str | None, str | None]]:
    """(user, tenant) of every live session left, sorted."""
    records = with_store(url, lambda b: b.dump_all_sessions())
    pairs = [(r.user_id, r.tenant_id) for r in records]
    return sorted(pairs, key=lambda p: [(v is not None, v or "") for v in p])


def stats(url: str) -> StoreStats:
    result: StoreStats = with_store(url, lambda b: b.stats())
    return result


# -- every command, on both backends ----------------------------------------------------------


def test_migrate_on_an_empty_database_makes_a_working_store(
    store_kind: str, db_url: str, cli: Cli
) -> None:
    first = ok(cli("migrate"))
    again = json.loads(ok(cli("migrate", "--json")))  # idempotent, and says so
    if store_kind == "redis":
        assert "is ready: a redis store has no schema to migrate" in first
        assert (again["from"], again["to"], again["changed"]) == (None, None, False)
    else:
        assert f"from revision none (empty) to {HEAD}" in first and "newest schema" in first
        assert (again["from"], again["to"], again["changed"]) == (HEAD, HEAD, False)
        assert "nothing changed" in ok(cli("migrate"))

    record = session("alice")

    async def work(b: SessionStoreBackend) -> SessionRecord | None:
        await b.save(record)
        return await b.load(record.id)

    loaded = with_store(db_url, work)
    assert loaded is not None and loaded.user_id == "alice"


def test_clear_user_signs_out_only_that_user_and_tenant(db_url: str, cli: Cli) -> None:
    seed(db_url, session("alice", "t1"), session("alice", "t2"), session("alice"))
    seed(db_url, session("bob", "t1"))

    out = ok(cli("clear-user", "alice", "--tenant", "t1"))
    assert out.strip() == "cleared 1 session for user alice in tenant t1"
    assert owners(db_url) == [("alice", None), ("alice", "t2"), ("bob", "t1")]

    assert ok(cli("clear-user", "alice")).strip() == "cleared 2 sessions for user alice"
    assert owners(db_url) == [("bob", "t1")]


def test_hostile_user_ids_are_data(db_url: str, cli: Cli) -> None:
    seed(db_url, session(HOSTILE), session("a_c"), session("abc"), session("abc"))
    seed(db_url, session("%"), session(UNICODE_USER))

    # `_` and `%` are not wildcards: a_c is not abc, and % is not everybody.
    assert json.loads(ok(cli("count-user", "a_c", "--json")))["live_sessions"] == 1
    assert ok(cli("clear-user", "%")).strip() == "cleared 1 session for user %"
    out = ok(cli("clear-user", HOSTILE))
    assert out.strip() == f"cleared 1 session for user {HOSTILE}"
    listed = json.loads(ok(cli("list-user", UNICODE_USER, "--json")))
    assert [s["user_id"] for s in listed] == [UNICODE_USER]
    # The table survived the "injection" and the others are untouched.
    assert owners(db_url) == [("a_c", None), ("abc", None), ("abc", None), (UNICODE_USER, None)]


def test_count_user_counts_live_sessions(db_url: str, cli: Cli) -> None:
    seed(db_url, session("alice", "t1"), session("alice", "t2"), session("alice", expired=True))

    assert ok(cli("count-user", "alice")).strip() == "2 live sessions for user alice"
    out = ok(cli("count-user", "alice", "--tenant", "t1"))
    assert out.strip() == "1 live session for user alice in tenant t1"


def test_list_user_shows_ids_and_times_never_data(db_url: str, cli: Cli) -> None:
    [mine, *_] = seed(
        db_url, session("alice", "t1"), session("alice", expired=True), session("bob")
    )

    table = ok(cli("list-user", "alice"))
    assert table.startswith("1 live session for user alice")
    assert mine.id[:12] not in table  # tables name a session by its handle, never its id
    assert "tok-NOT-FOR-SCREENS" not in table

    [row] = json.loads(ok(cli("list-user", "alice", "--json")))
    assert "id" not in row and row["handle"] == mine.handle  # ids are not stored (issue 25)
    assert row["tenant_id"] == "t1" and "data" not in row
    assert datetime.fromisoformat(row["expires_at"]) == mine.expiry_date
    assert datetime.fromisoformat(row["created_at"]) <= datetime.now(UTC)

    assert ok(cli("list-user", "nobody")).strip() == "0 live sessions for user nobody"


def test_clear_all_needs_yes_and_respects_the_tenant(db_url: str, cli: Cli) -> None:
    seed(db_url, *(session(f"u{i}", "t1") for i in range(3)), session("v", "t2"), session("w"))

    refused = cli("clear-all")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert stats(db_url).total == 5  # nothing deleted

    out = ok(cli("clear-all", "--yes", "--tenant", "t1", "--batch-size", "2"))
    assert out.strip() == "cleared 3 sessions in tenant t1"
    assert owners(db_url) == [("v", "t2"), ("w", None)]

    assert json.loads(ok(cli("clear-all", "--yes", "--json")))["cleared"] == 2
    assert stats(db_url).total == 0


def test_cleanup_expired_removes_only_expired_sessions(db_url: str, cli: Cli) -> None:
    live = seed(db_url, session("alice"), session("bob", "t1"))
    seed(db_url, *(session(f"old{i}", expired=True) for i in range(5)))

    result = cli("cleanup-expired", "--batch-size", "2")
    assert ok(result).strip() == "deleted 5 expired sessions"
    assert result.stderr == ""  # no progress when stderr is not a terminal

    after = stats(db_url)
    assert (after.total, after.live, after.expired) == (2, 2, 0)
    loaded = with_store(db_url, lambda b: asyncio.gather(*(b.load(r.id) for r in live)))
    assert all(r is not None for r in loaded)


def test_stats_numbers_are_right(db_url: str, cli: Cli) -> None:
    seed(db_url, session("alice", "t1"), session("alice", "t1"), session("bob", "t1"))
    seed(db_url, session("carol"), session(None), session("dave", "t2", expired=True))
    seed(db_url, session("dave", "t2", expired=True))

    doc = json.loads(ok(cli("stats", "--json")))
    assert doc == {
        "total": 7,
        "live": 5,
        "expired": 2,
        "distinct_users": 3,
        "per_tenant": [{"tenant_id": None, "live": 2}, {"tenant_id": "t1", "live": 3}],
    }
    text = ok(cli("stats"))
    for label, number in [("total", 7), ("live", 5), (r"expired \(awaiting cleanup\)", 2)]:
        assert re.search(rf"^{label}\s+{number}$", text, re.M), text
    assert re.search(r"^t1\s+3$", text, re.M) and re.search(r"^\(none\)\s+2$", text, re.M)


def test_dump_shows_live_sessions_and_json_has_the_data(db_url: str, cli: Cli) -> None:
    a, b = seed(db_url, session("alice", "t1"), session("bob", "t2"))
    seed(db_url, session("old", expired=True))

    dumped = json.loads(ok(cli("dump", "--json")))
    assert {d["handle"]: d["data"] for d in dumped} == {a.handle: a.data, b.handle: b.data}

    table = ok(cli("dump", "--tenant", "t2"))
    assert "bob" in table and "alice" not in table and "cart, csrf, user_id" in table
    assert "tok-NOT-FOR-SCREENS" not in table  # values only with --json


# -- failures and the process contract ---------------------------------------------------------


def test_unreachable_database_is_one_line_with_the_password_masked(tmp_path: Path) -> None:
    for result in [
        run("--db-url", DOWN_URL, "stats", data_dir=tmp_path),
        run("count-user", "alice", data_dir=tmp_path, env={"SESSION_DB_URL": DOWN_URL}),
    ]:
        line = one_error_line(result)
        assert "cannot reach" in line and "127.0.0.1:1" in line
        assert "s3cret" not in result.stderr + result.stdout

    debug = run("stats", "--db-url", DOWN_URL, "--debug", data_dir=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "s3cret" not in debug.stderr


def test_a_password_in_the_query_is_masked_everywhere_the_cli_shows_the_url(
    tmp_path: Path,
) -> None:
    url = "postgresql://u@127.0.0.1:1/none?password=s3cret"
    for result in [
        run("--db-url", url, "stats", data_dir=tmp_path),
        run("migrate", "--debug", data_dir=tmp_path, env={"SESSION_DB_URL": url}),
    ]:
        assert result.returncode == 1
        assert "127.0.0.1:1/none?password=***" in result.stderr
        assert "s3cret" not in result.stderr + result.stdout


def test_an_unparsable_url_is_a_config_error_with_the_password_masked(tmp_path: Path) -> None:
    url = "postgresql://app:p@ss:w/rd%?#@host/db"
    by_env = one_error_line(run("stats", data_dir=tmp_path, env={"SESSION_DB_URL": url}))
    assert "SESSION_DB_URL is not a valid database URL" in by_env
    by_flag = one_error_line(run("--db-url", url, "stats", data_dir=tmp_path))
    assert "--db-url is not a valid database URL" in by_flag
    for line in (by_env, by_flag):
        assert "unexpected" not in line and "ss:w" not in line and "@host/db" in line


def test_global_options_go_before_or_after_the_command(tmp_path: Path) -> None:
    assert ok(run("migrate", data_dir=tmp_path))
    for argv in (["--json", "stats"], ["stats", "--json"], ["--json", "--debug", "stats"]):
        assert json.loads(ok(run(*argv, data_dir=tmp_path)))["total"] == 0


def test_migrate_creates_only_the_default_directory(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        assert HEAD in ok(run("migrate", data_dir=data))
        assert (data.stat().st_mode & 0o777, (data / "sessions.sqlite").stat().st_mode & 0o777) == (
            0o700,
            0o600,
        )
        elsewhere = tmp_path / "typo" / "sessions.sqlite"
        line = one_error_line(run("--db-url", f"sqlite:///{elsewhere}", "migrate", data_dir=data))
        assert f"the directory {elsewhere.parent} of the SQLite database does not exist" in line
        assert not elsewhere.parent.exists()
    finally:
        os.umask(old)


@pytest.mark.parametrize("url", ["memory://", "memory://app"])
def test_memory_url_is_refused_with_exit_2(tmp_path: Path, url: str) -> None:
    result = run("count-user", "alice", data_dir=tmp_path, env={"SESSION_DB_URL": url})
    assert "another process" in one_error_line(result, code=2)
    assert "another process" in one_error_line(run("--db-url", url, "stats", data_dir=tmp_path), 2)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(data_dir=tmp_path).returncode == 2  # no command
    assert run("clear-everything", data_dir=tmp_path).returncode == 2
    bad = run("cleanup-expired", "--batch-size", "0", data_dir=tmp_path)
    assert bad.returncode == 2 and "--batch-size" in bad.stderr


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    names = [
        "migrate", "clear-user", "clear-all", "count-user", "list-user",
        "cleanup-expired", "stats", "dump",
    ]  # fmt: skip
    for name in [None, *names]:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"] if name else ["--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "usage: session-service" in text and "examples:\n  session-service" in text
    assert build_parser().prog == "session-service"


def test_environment_decides_the_database_without_side_effects(tmp_path: Path) -> None:
    data = tmp_path / "data"

    missing = one_error_line(run("stats", data_dir=data))
    assert "session-service migrate" in missing and str(data) in missing
    assert not data.exists()  # a read command does not create an empty database

    assert ok(run("migrate", data_dir=data))
    assert (data / "sessions.sqlite").exists()
    assert not (data / "secret_key").exists()  # the CLI never needs the signing key
    assert json.loads(ok(run("stats", "--json", data_dir=data)))["total"] == 0

    cluster = run("stats", data_dir=data, env={"DEPLOYMENT": "cluster"})
    assert "SESSION_DB_URL must be set" in one_error_line(cluster)
    bad_flag = run("--db-url", "mysql://x/y", "stats", data_dir=data)
    assert "--db-url has an unsupported scheme" in one_error_line(bad_flag)


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_python_dash_m_is_the_same_cli(db_url: str, tmp_path: Path) -> None:
    seed(db_url, session("alice"))
    out = ok(run("--db-url", db_url, "count-user", "alice", data_dir=tmp_path, module=True))
    assert out.strip() == "1 live session for user alice"


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_cleanup_shows_a_running_count_on_a_terminal(db_url: str, tmp_path: Path) -> None:
    seed(db_url, *(session(f"old{i}", expired=True) for i in range(5)))
    controller, terminal = pty.openpty()
    try:
        result = run(
            "--db-url", db_url, "cleanup-expired", "--batch-size", "2",
            data_dir=tmp_path, stderr=terminal,
        )  # fmt: skip
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
    assert ok(result).strip() == "deleted 5 expired sessions"
    shown = seen.decode()
    assert "\rdeleted 2…" in shown and "\rdeleted 4…" in shown and "\rdeleted 5…" in shown


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("store_kind", ["postgres"])
@pytest.mark.parametrize("parent_ignores_sigint", [False, True])
def test_ctrl_c_exits_130_with_one_line(
    db_url: str, tmp_path: Path, parent_ignores_sigint: bool
) -> None:
    """Interrupt a command stuck behind a table lock: exit 130, one line, no traceback; also
    when it was started with SIGINT ignored (``nohup``, some CI runners)."""
    seed(db_url, session("alice"))
    dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    assert SCRIPT is not None

    async def scenario() -> tuple[int, str]:
        locker = await asyncpg.connect(dsn)
        watcher = await asyncpg.connect(dsn)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
                proc = await asyncio.create_subprocess_exec(
                    SCRIPT, "count-user", "alice",
                    env=_clean_env(tmp_path, {"SESSION_DB_URL": db_url}),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    preexec_fn=_ignore_sigint if parent_ignores_sigint else None,
                )  # fmt: skip
                async with asyncio.timeout(60):
                    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    while not await watcher.fetchval(waiting + " AND datname = current_database()"):
                        pass  # the CLI is now blocked inside its query
                    proc.send_signal(signal.SIGINT)
                    _, err = await proc.communicate()
            return proc.returncode or 0, err.decode()
        finally:
            await watcher.close()
            await locker.close()

    code, err = asyncio.run(scenario())
    assert code == 130, err
    assert err.splitlines() == ["session-service: interrupted"]
