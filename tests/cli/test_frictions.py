"""What a newcomer and an operator trip over in the command line, the real process each time.

Each test runs the installed ``session-service`` (or ``alembic``, ``make``) against a real
store and checks what the person at the terminal would notice: the sentence, the exit code,
what is left in the store.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.devices import new_handle
from session_service.limits import LoginGuard, RateLimiter, storage_for
from session_service.records import new_session_id

from ..conftest import SCHEMA_HEAD as HEAD
from .test_cli import Cli, cli, ok, one_error_line, seed, with_store

__all__ = ["cli"]  # the fixture, shared with tests/test_cli.py
Done = subprocess.CompletedProcess[str]
pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"


def device_session(user: str, ip: str | None = None, agent: str | None = None) -> SessionRecord:
    now = datetime.now(UTC)
    return SessionRecord(
        id=new_session_id(),
        data={"user_id": user},
        expiry_date=now + timedelta(hours=1),
        ip=ip,
        user_agent=agent,
        last_seen=now - timedelta(minutes=3) if ip else None,
    )


def listed(url: str, user: str) -> list[SessionRecord]:
    records: list[SessionRecord] = with_store(url, lambda b: b.list_sessions_for_user(user))
    return records


# -- unlock ------------------------------------------------------------------------------------


def test_unlock_refuses_an_ip_that_is_not_an_address(cli: Cli, db_url: str) -> None:
    seed(db_url)
    for bad in ["not-an-ip", "203.0.113.300", " "]:
        result = cli("unlock", "--ip", bad)
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert "unlocked" not in result.stdout
        assert "--ip" in result.stderr and "address" in result.stderr


def test_unlock_says_whether_anything_was_cleared(cli: Cli, db_url: str) -> None:
    seed(db_url)
    nothing = json.loads(ok(cli("unlock", "--ip", "203.0.113.7", "--json")))
    assert nothing["unlocked"] is False and nothing["cleared"] == 0
    text = ok(cli("unlock", "--user", "alice"))
    assert "unlocked" not in text and "nothing" in text

    async def lock(b: SessionStoreBackend) -> bool:
        guard = LoginGuard(storage_for(b.store), max_failures=2)
        for _ in range(3):
            await guard.attempt("alice", "203.0.113.7")
        return (await guard.check("alice", "203.0.113.7")).allowed

    assert with_store(db_url, lock) is False
    done = json.loads(ok(cli("unlock", "--user", "alice", "--json")))
    assert done["unlocked"] is True and done["cleared"] >= 1

    async def allowed(b: SessionStoreBackend) -> bool:
        guard = LoginGuard(storage_for(b.store), max_failures=2)
        return (await guard.check("alice", "203.0.113.7")).allowed

    assert with_store(db_url, allowed) is True


def test_unlock_finds_an_ipv6_address_however_it_is_written(cli: Cli, db_url: str) -> None:
    seed(db_url)

    async def book(b: SessionStoreBackend) -> None:
        await LoginGuard(storage_for(b.store)).attempt("bob", "2001:db8::1")

    with_store(db_url, book)
    done = json.loads(ok(cli("unlock", "--ip", "2001:DB8:0::1", "--json")))
    assert done["unlocked"] is True and done["ip"] == "2001:db8::1"


# -- devices, revoke, dump ---------------------------------------------------------------------


def test_list_user_shows_devices_by_handle_never_ids(cli: Cli, db_url: str) -> None:
    seed(db_url, device_session("alice", "203.0.113.5", FIREFOX), device_session("alice"))
    records = listed(db_url, "alice")
    text = ok(cli("list-user", "alice"))
    assert text.startswith("2 live sessions for user alice")
    assert "Firefox on Windows" in text and "203.0.113.5" in text
    for r in records:
        assert r.handle is not None and r.handle in text
        assert r.id == ""  # a listing names no id (issue 25); test_cli_no_ids greps the output
    assert "LAST SEEN" in text and "EXPIRES" in text

    rows = json.loads(ok(cli("list-user", "alice", "--json")))
    tracked = next(row for row in rows if row["ip"])
    assert tracked["device"] == "Firefox on Windows" and tracked["user_agent"] == FIREFOX
    assert tracked["last_seen_at"] is not None
    assert {row["handle"] for row in rows} == {r.handle for r in records}


def test_dump_shows_devices_and_limit_caps_the_rows(cli: Cli, db_url: str) -> None:
    seed(db_url, *(device_session(f"u{i}", f"198.51.100.{i}", FIREFOX) for i in range(3)))
    text = ok(cli("dump"))
    assert "198.51.100.2" in text and "Firefox on Windows" in text
    assert "id" not in text.split("\n", 1)[0].lower().split()  # no id column (issue 25)

    capped = ok(cli("dump", "--limit", "2"))
    assert len(re.findall(r"198\.51\.100\.\d", capped)) == 2
    assert "2 of 3 live sessions" in capped
    assert len(json.loads(ok(cli("dump", "--limit", "2", "--json")))) == 2
    assert cli("dump", "--limit", "0").returncode == 2


def test_revoke_signs_out_one_session_by_handle(cli: Cli, db_url: str) -> None:
    seed(db_url, device_session("alice", "203.0.113.5", FIREFOX), device_session("alice"))
    seed(db_url, device_session("bob"))
    target, kept = listed(db_url, "alice")
    assert target.handle is not None and kept.handle is not None

    text = ok(cli("revoke", "alice", target.handle))
    assert "signed out" in text and target.handle in text
    assert [r.handle for r in listed(db_url, "alice")] == [kept.handle]

    again = one_error_line(cli("revoke", "alice", target.handle))
    assert "no live session" in again and "alice" in again
    [bobs] = listed(db_url, "bob")
    assert bobs.handle is not None
    one_error_line(cli("revoke", "alice", bobs.handle))  # another user's handle
    assert len(listed(db_url, "bob")) == 1

    doc = json.loads(ok(cli("revoke", "alice", kept.handle, "--json")))
    assert doc == {"revoked": True, "user_id": "alice", "tenant_id": None, "handle": kept.handle}
    assert listed(db_url, "alice") == []


def test_revoke_takes_a_handle_that_starts_with_a_dash_after_double_dash(
    cli: Cli, db_url: str
) -> None:
    """Older versions drew handles that may start with '-' (1 in 64): after '--' the
    command still reaches them, rather than reading them as an option."""
    legacy = device_session("alice")
    legacy.handle = "-Xq3k9f0aB2cD1eF"
    seed(db_url, legacy)
    text = ok(cli("revoke", "alice", "--", legacy.handle))
    assert "signed out" in text
    assert listed(db_url, "alice") == []


def test_a_new_handle_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-AAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB"])
    monkeypatch.setattr("session_service.devices.secrets.token_urlsafe", lambda n: next(draws))
    assert new_handle() == "BBBBBBBBBBBBBBBB"


# -- wording -----------------------------------------------------------------------------------


@pytest.mark.stores("sqlite")  # the wording is above the stores; one store shows it
def test_counts_have_thousands_separators(cli: Cli, db_url: str) -> None:
    seed(db_url, *(device_session("alice") for _ in range(1_001)))
    assert ok(cli("count-user", "alice")).strip() == "1,001 live sessions for user alice"
    assert re.search(r"^live\s+1,001$", ok(cli("stats")), re.M)
    assert json.loads(ok(cli("count-user", "alice", "--json")))["live_sessions"] == 1001


@pytest.mark.stores("sqlite", "postgres")  # Redis expires its limit keys itself
def test_cleanup_names_limit_entries_in_plain_english(cli: Cli, db_url: str) -> None:
    seed(db_url)

    async def expired_entries(b: SessionStoreBackend, n: int) -> None:
        limiter = RateLimiter(storage_for(b.store), clock=lambda: 1_000_000.0)
        for i in range(n):
            await limiter.hit(f"k{i}", limit=5, window=1)

    with_store(db_url, lambda b: expired_entries(b, 1))
    assert "1 expired rate-limit or counter entry" in ok(cli("cleanup-expired"))
    with_store(db_url, lambda b: expired_entries(b, 2))
    text = ok(cli("cleanup-expired"))
    assert "2 expired rate-limit or counter entries" in text and "entrys" not in text


@pytest.mark.stores("sqlite")
def test_an_unexpected_error_names_no_exception_class(tmp_path: Path) -> None:
    # The redis extra missing, as in an install without it.
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from session_service.cli import main\n"
        "sys.exit(main(['--db-url', 'redis://127.0.0.1:1/0', 'stats']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    line = one_error_line(result)
    assert "Error" not in line and "ModuleNotFound" not in line, line


def test_every_subcommand_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from session_service.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        for action in command._actions:
            assert action.help, (name, action.dest)


def test_limits_show_without_the_numbers_says_what_the_store_knows(cli: Cli, db_url: str) -> None:
    seed(db_url)

    async def hits(b: SessionStoreBackend) -> None:
        for _ in range(2):
            await RateLimiter(storage_for(b.store)).hit("api:bob", limit=5, window=60)

    with_store(db_url, hits)
    text = ok(cli("limits", "show", "api:bob"))  # the numbers the store kept (issue 24)
    assert text.startswith("api:bob: allowed, 3 of 5 left"), text
    doc = json.loads(ok(cli("limits", "show", "api:nobody", "--json")))
    assert doc["logged_hits"] == 0 and doc["limit"] is None
    alone = cli("limits", "show", "api:bob", "--limit", "5")
    assert alone.returncode == 2 and "--window" in alone.stderr


# -- alembic, as the README runs it ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = shutil.which("alembic", path=os.path.dirname(sys.executable))


def alembic(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> Done:
    """``.venv/bin/alembic ARGS`` in the checkout, with only this test's session settings."""
    assert ALEMBIC is not None, "alembic is not installed next to this Python"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    base.pop("DEPLOYMENT", None)
    return subprocess.run(
        [ALEMBIC, *args],
        cwd=ROOT,
        env={**base, "SESSION_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_alembic_line(done: Done) -> str:
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


@pytest.mark.stores("sqlite", "postgres")
def test_alembic_upgrade_says_which_revision_it_reached(db_url: str, tmp_path: Path) -> None:
    first = alembic("upgrade", "head", data_dir=tmp_path, env={"SESSION_DB_URL": db_url})
    assert first.returncode == 0, first.stderr
    assert f"to revision {HEAD}" in first.stdout and "none (empty)" in first.stdout
    again = alembic("upgrade", "head", data_dir=tmp_path, env={"SESSION_DB_URL": db_url})
    assert again.returncode == 0, again.stderr
    assert f"already at revision {HEAD}" in again.stdout
    assert str(make_url(db_url).database) in again.stdout  # which database


def test_alembic_with_the_database_down_is_one_line(tmp_path: Path) -> None:
    down = "postgresql://u:s3cret@127.0.0.1:1/none"
    for args, env in [
        (["-x", f"db_url={down}", "upgrade", "head"], {}),
        (["upgrade", "head"], {"SESSION_DB_URL": down}),
    ]:
        done = alembic(*args, data_dir=tmp_path, env=env)
        line = one_alembic_line(done)
        assert "cannot reach" in line and "127.0.0.1:1" in line and "s3cret" not in line


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "memory://", "mysql://db/app"])
def test_alembic_refuses_a_url_it_cannot_migrate(tmp_path: Path, url: str) -> None:
    for args, env in [
        (["-x", f"db_url={url}", "upgrade", "head"], {}),
        (["upgrade", "head"], {"SESSION_DB_URL": url}),
    ]:
        line = one_alembic_line(alembic(*args, data_dir=tmp_path, env=env))
        assert url.partition(":")[0] in line
        assert not (tmp_path / "sessions.sqlite").exists()  # never the SQLite default instead


# -- the FastAPI example and `make run-fastapi` ------------------------------------------------


def test_make_run_fastapi_serves_on_the_port_given(tmp_path: Path) -> None:
    import signal
    import time

    import httpx

    from ..support.demo_server import free_port

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env["SESSION_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        ["make", "-s", "run-fastapi", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and its uvicorn, stopped together below
    )
    deadline = time.monotonic() + 60
    try:
        while True:  # until it answers (bounded), as tests/_demo_server.py waits for the demo
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/me", timeout=1).json() == {"session": {}}
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"make run-fastapi PORT={port} did not serve there:\n{out}")
                time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


def _statements(source: str) -> tuple[set[tuple[str, str]], set[str]]:
    """What a module imports (module, name) and its other top-level statements (as ASTs)."""
    imported: set[tuple[str, str]] = set()
    others: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom):
            imported |= {(node.module or "", alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {(alias.name, "") for alias in node.names}
        else:
            others.add(ast.dump(node))
    return imported, others


#: The FastAPI snippet the docs show for ``examples/fastapi_app.py``; the example must run it.
FASTAPI_SNIPPET = """
from fastapi import FastAPI
from session_service import DefaultSessionService, SessionMiddleware

service = DefaultSessionService.from_env(auto_migrate=True)
app = FastAPI(lifespan=service.lifespan)
app.add_middleware(SessionMiddleware, service=service)
"""


def _documented_fastapi_snippets() -> list[str]:
    """Python blocks of the README introduced as the runnable ``examples/fastapi_app.py``
    (the docs pages' FastAPI blocks are parts of longer walkthroughs, run by their own test)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for m in re.finditer(r"```python\n(.*?)```", text, re.S):
        intro = text[max(0, m.start() - 300) : m.start()]
        if "FastAPI(" in m.group(1) and "examples/fastapi_app.py" in intro:
            found.append(m.group(1))
    return found


def test_the_fastapi_example_is_the_readme_snippet() -> None:
    imported, statements = _statements((ROOT / "examples" / "fastapi_app.py").read_text("utf-8"))
    for block in [FASTAPI_SNIPPET, *_documented_fastapi_snippets()]:
        wanted_imports, wanted = _statements(block)
        assert wanted_imports <= imported, wanted_imports - imported
        missing = [
            ast.unparse(n) for n in ast.parse(block).body if ast.dump(n) in wanted - statements
        ]
        assert not missing, f"documented statements not in examples/fastapi_app.py: {missing}"


def test_alembic_sql_mode_says_it_cannot_render_the_revisions(tmp_path: Path) -> None:
    line = one_alembic_line(alembic("upgrade", "head", "--sql", data_dir=tmp_path))
    assert "--sql" in line and "without --sql" in line
