"""Database faults under a running app, fast versions of the soak's fault phases.

* PostgreSQL goes away and comes back: the app reaches it through a TCP proxy inside the test,
  which the test cuts (every connection dropped, new ones refused) and restores, so the shared
  server is never touched. During the outage: 503s only, never a 500, and the CLI fails with
  one line. After it: the same app, not restarted, serves every session stored before.
* The SQLite file's directory vanishes under a running app (renamed away) and comes back: no
  500, the CLI fails with one line, every session loads afterwards and the file is intact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from session_service import DefaultSessionService
from session_service.cli import main as cli_main

from ..conftest import create_pg_database, drop_pg_database
from ..support.webapp import build_app, settings_for

USERS = 20
#: After the database is back, a request may meet one stale pooled connection of each kind.
RETRIES_AFTER_RESTORE = 50


class CuttableProxy:
    """A loopback TCP proxy to ``target`` that can drop every connection and stop listening,
    or (``stalled``) swallow what clients send, like a server that stopped answering."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.stalled = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """The database is gone: established connections drop, new ones are refused."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, server_w))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    if self.stalled and writer is server_w:
                        continue  # a request the server never sees: no answer ever comes
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self._writers.difference_update((client_w, server_w))


@pytest.fixture
async def proxied_pg(pg_server_url: str) -> AsyncIterator[tuple[str, CuttableProxy]]:
    url = await asyncio.to_thread(create_pg_database, pg_server_url)
    target = make_url(url)
    proxy = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    try:
        yield target.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        if proxy._server is not None:
            await proxy.cut()
        await asyncio.to_thread(drop_pg_database, url)


async def _request(
    client: httpx.AsyncClient, method: str, path: str, cookie: str | None
) -> httpx.Response:
    """One request carrying exactly ``cookie`` (the shared client keeps no cookies)."""
    client.cookies.clear()
    headers = {"cookie": cookie} if cookie else {}
    return await client.request(method, path, headers=headers)


async def _log_in_users(client: httpx.AsyncClient) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for i in range(USERS):
        response = await _request(client, "POST", f"/login?user=u{i}", None)
        cookie = response.headers["set-cookie"].split(";", 1)[0]
        response = await _request(client, "POST", f"/set?n={i}", cookie)
        assert response.status_code == 200
        cookies[f"u{i}"] = cookie
    return cookies


async def _assert_sessions_load(
    client: httpx.AsyncClient, cookies: dict[str, str], written: set[str] | None = None
) -> int:
    """Every stored session reads back intact (with ``x`` for the ``written`` users); returns
    how many 503s came first (stale pooled connections meeting the restored database)."""
    unavailable = 0
    for i, (user, cookie) in enumerate(cookies.items()):
        expected = {"user_id": user, "n": str(i)}
        if written is not None and user in written:
            expected["x"] = "1"
        for _ in range(RETRIES_AFTER_RESTORE):
            response = await _request(client, "GET", "/read", cookie)
            if response.status_code != 503:
                break
            unavailable += 1
        assert response.status_code == 200
        assert response.json()["data"] == expected
    return unavailable


def _cli(url: str, *args: str) -> int:
    return cli_main(["--db-url", url, *args])


async def test_postgres_outage_gives_503s_then_the_same_app_serves_every_session(
    proxied_pg: tuple[str, CuttableProxy], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, proxy = proxied_pg
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    await service.migrate()
    transport = httpx.ASGITransport(app=build_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = await _log_in_users(client)

            await proxy.cut()
            for cookie in cookies.values():
                for method, path in (("GET", "/read"), ("POST", "/set?x=1"), ("POST", "/logout")):
                    response = await _request(client, method, path, cookie)
                    assert response.status_code == 503, (method, path, response.text)
                    assert "session store" in response.text
            fresh = await _request(client, "POST", "/set?x=1", None)
            assert fresh.status_code == 503
            assert await asyncio.to_thread(_cli, url, "count-user", "x") == 1
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
            assert "cannot reach the session database" in err

            await proxy.start()
            stale = await _assert_sessions_load(client, cookies)
            print(f"503s from stale connections after the restore: {stale}")
            # Recovered: every further request succeeds, and writes land.
            for cookie in cookies.values():
                assert (await _request(client, "POST", "/set?after=yes", cookie)).status_code == 200
            assert await service.count_sessions_for_user("u0") == 1
    finally:
        await service.close()
    assert await asyncio.to_thread(_cli, url, "count-user", "u0") == 0


async def test_auto_migrate_with_the_database_down_starts_answers_503_and_migrates_later(
    proxied_pg: tuple[str, CuttableProxy], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The app starts before its database (containers): one log line, 503s, then the
    migration succeeds in the background. The password, in the URL's query here, is never
    in a log line."""
    url, proxy = proxied_pg
    url = make_url(url).set(query={"password": "s3cret-in-query"}).render_as_string(False)
    await proxy.cut()
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)), auto_migrate=True)
    transport = httpx.ASGITransport(app=build_app(service))
    with caplog.at_level(logging.INFO, logger="session_service"):
        async with service, httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await _request(client, "POST", "/set?x=1", None)).status_code == 503
            assert not service.migrated.is_set()
            await proxy.start()
            async with asyncio.timeout(60):
                await service.migrated.wait()
            assert (await _request(client, "POST", "/set?x=1", None)).status_code == 200
    at_start = [r for r in caplog.records if "cannot migrate at start-up" in r.getMessage()]
    assert len(at_start) == 1 and at_start[0].exc_info is None
    logged = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "s3cret-in-query" not in logged and "password=***" in logged


async def test_sqlite_directory_vanishing_under_a_running_app_corrupts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "db"
    gone = tmp_path / "db.gone"
    database = directory / "sessions.sqlite"
    url = f"sqlite+aiosqlite:///{database}"
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    await service.migrate()
    transport = httpx.ASGITransport(app=build_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = await _log_in_users(client)

            os.rename(directory, gone)
            written: set[str] = set()
            try:
                for user, cookie in cookies.items():
                    for method, path in (("GET", "/read"), ("POST", "/set?x=1")):
                        response = await _request(client, method, path, cookie)
                        # Open connections may still reach the renamed file; new ones cannot.
                        assert response.status_code in (200, 503), response.text
                        if method == "POST" and response.status_code == 200:
                            written.add(user)
                assert await asyncio.to_thread(_cli, url, "count-user", "x") == 1
                err = capsys.readouterr().err
                assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
                assert str(database) in err
            finally:
                if directory.exists():  # something re-created it: keep it aside for the report
                    os.rename(directory, tmp_path / "db.recreated")
                os.rename(gone, directory)

            # Every write acknowledged while the directory was away is there too.
            assert await _assert_sessions_load(client, cookies, written) == 0
    finally:
        await service.close()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert not (tmp_path / "db.recreated").exists(), "the vanished directory was re-created"


_READ_ONLY_THEN_WRITABLE = """
import asyncio, os, sys
from datetime import timedelta
from session_service import SessionRecord, SessionStoreBackend, SessionStoreUnavailable
from session_service.records import new_session_id, utcnow

def chmod_all(directory, file_mode, dir_mode):
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), file_mode)
    os.chmod(directory, dir_mode)

async def main(directory):
    url = f"sqlite+aiosqlite:///{directory}/sessions.sqlite"
    first = SessionStoreBackend.from_url(url)
    await first.migrate()
    record = SessionRecord(new_session_id(), {"k": 1}, utcnow() + timedelta(hours=1))
    await first.save(record)  # the first instance stays open: its WAL files stay too
    chmod_all(directory, 0o444, 0o555)
    store = SessionStoreBackend.from_url(url)  # an instance started while read-only
    try:
        print("read while read-only:", (await store.load(record.id)).data)
    except SessionStoreUnavailable as exc:
        print("read refused:", exc)
    record.data = {"k": 2}
    try:
        print("write while read-only:", await store.update(record))
    except SessionStoreUnavailable as exc:
        print("refused:", exc)
    chmod_all(directory, 0o644, 0o755)
    print("write after:", await store.update(record))
    loaded = await store.load(record.id)
    print("data after:", loaded.data if loaded else None)
    await store.close()
    await first.close()

asyncio.run(main(sys.argv[1]))
"""


def _without_root_override(argv: list[str]) -> list[str]:
    """Root ignores file modes; without CAP_DAC_OVERRIDE (and kin) it must obey them."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only file would not stop root")
    drop = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--bounding-set={drop}", "--inh-caps=-all", *argv]


def test_sqlite_store_opened_while_the_file_is_read_only_recovers_once_it_is_writable(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    argv = _without_root_override([sys.executable, "-c", _READ_ONLY_THEN_WRITABLE, str(directory)])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Reading may or may not work on a read-only WAL file; it must not be anything but clear.
    assert lines[0] == "read while read-only: {'k': 1}" or lines[0].startswith("read refused: ")
    assert lines[1].startswith("refused: ") and "read-only" in lines[1], lines
    assert lines[2:] == ["write after: True", "data after: {'k': 2}"], lines
