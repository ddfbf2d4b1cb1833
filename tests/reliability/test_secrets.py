"""Injection and secrets, on both backends.

* Every admin input (user ids, tenant ids, session ids) is data, never SQL: hostile strings go
  through the store, the service and the CLI, match only themselves, and the table survives.
* The secret key, the fallback keys and the database password never show up in logs (every
  ``session_service``, ``sqlalchemy`` and ``alembic`` logger at DEBUG), in error messages or
  their tracebacks, in any ``repr``, or in the CLI's output, even when the database is down.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from session_service import (
    DefaultSessionService,
    Session,
    SessionRecord,
    SessionSettings,
    SessionStoreBackend,
    SessionStoreUnavailable,
)
from session_service.cli import main as cli_main
from session_service.records import new_session_id, utcnow
from session_service.web.cookie import CookieCodec

from ..support.webapp import build_app

HOSTILE = [
    "'; DROP TABLE sessions; --",
    "' OR '1'='1",
    '" OR ""="',
    "alice' --",
    "%",
    "_",
    "\\",
    "'); DELETE FROM sessions; --",
    "1; TRUNCATE sessions",
    "$1",
    ":user_id",
    "%(user_id)s",
    "?",
    "sessions.user_id",
    "ロバート'); DROP TABLE students;--",
    "' UNION SELECT id, data, expiry_date, user_id, tenant_id FROM sessions --",
]
SECRET_KEY = "reliability-SECRET-key-0123456789-abcdefghijkl"
FALLBACK_KEYS = ("old-FALLBACK-key-one-0123456789", "old-FALLBACK-key-two-0123456789")
DB_PASSWORD = "db-PASSWORD-9f8e7d6c"
LOGGERS = ("session_service", "sqlalchemy", "alembic", "asyncpg", "aiosqlite")


def _secrets() -> list[str]:
    return [SECRET_KEY, *FALLBACK_KEYS, DB_PASSWORD]


def _assert_clean(text: str, where: str) -> None:
    for secret in _secrets():
        assert secret not in text, f"a secret leaked into {where}"


def _with_password(url: str) -> str:
    """The URL with a password (the test server trusts loopback, so it is accepted as is)."""
    if not url.startswith("postgres"):  # the test Redis has no password; memory:// none at all
        return url
    return make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _record(user: str, tenant: str | None = None) -> SessionRecord:
    return SessionRecord(
        id=new_session_id(),
        data={"user_id": user, "note": user},
        expiry_date=utcnow() + timedelta(hours=1),
        tenant_id=tenant,
    )


@pytest.fixture
async def seeded(backend: SessionStoreBackend) -> AsyncIterator[SessionStoreBackend]:
    """A bystander session, and one session per hostile string (as user and as tenant)."""
    await backend.save(_record("bystander", "acme"))
    for value in HOSTILE:
        await backend.save(_record(value))
        await backend.save(_record("tenant-user", value))
    yield backend


# -- injection ------------------------------------------------------------------------------


async def test_hostile_user_and_tenant_ids_are_data_in_the_store(
    seeded: SessionStoreBackend,
) -> None:
    backend = seeded
    for value in HOSTILE:
        assert await backend.count_sessions_for_user(value) == 1
        (loaded,) = await backend.list_sessions_for_user(value)
        assert loaded.user_id == value and loaded.data["note"] == value
        assert await backend.count_sessions_for_user("tenant-user", tenant_id=value) == 1
        assert len(await backend.dump_all_sessions(tenant_id=value)) == 1
        assert await backend.load(value) is None
        await backend.delete(value)  # an id that is SQL deletes nothing
    assert (await backend.stats()).total == 1 + 2 * len(HOSTILE)
    for value in HOSTILE:
        assert await backend.clear_sessions_for_user(value) == 1
        assert await backend.clear_all_sessions(tenant_id=value) == 1
    # Only the hostile rows went; the bystander and the table are still there.
    assert (await backend.stats()).total == 1
    assert await backend.count_sessions_for_user("bystander", tenant_id="acme") == 1


async def test_hostile_ids_are_data_through_the_service(
    seeded: SessionStoreBackend, db_url: str, tmp_path: Path
) -> None:
    settings = SessionSettings.from_env(
        {
            "SESSION_DB_URL": db_url,
            "SESSION_SECRET_KEY": SECRET_KEY,
            "SESSION_DATA_DIR": str(tmp_path),
        }
    )
    service = DefaultSessionService(seeded, settings)
    for value in HOSTILE:
        assert await service.count_sessions_for_user(value) == 1
        assert len(await service.get_session_ids_for_user(value)) == 1
        assert await service.clear_sessions_for_user("tenant-user", tenant_id=value) == 1
        assert await service.clear_sessions_for_user(value) == 1
        assert await service.clear_all_sessions(tenant_id=value) == 0
    assert await service.count_sessions_for_user("bystander") == 1
    assert (await seeded.stats()).total == 1


@pytest.mark.stores("sqlite", "postgres", "redis")  # the CLI refuses memory://
def test_hostile_ids_are_data_through_the_cli(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed() -> None:
        backend = await SessionStoreBackend.connect(db_url)
        try:
            await backend.migrate()
            await backend.save(_record("bystander"))
            for value in HOSTILE:
                await backend.save(_record(value, value))
        finally:
            await backend.close()

    asyncio.run(seed())
    for value in HOSTILE:
        assert cli_main(["--db-url", db_url, "count-user", value, "--json"]) == 0
        assert '"live_sessions": 1' in capsys.readouterr().out
        assert cli_main(["--db-url", db_url, "list-user", value, "--tenant", value]) == 0
        assert "1 live session" in capsys.readouterr().out
        assert cli_main(["--db-url", db_url, "clear-all", "--yes", "--tenant", value]) == 0
        assert "cleared 1 session" in capsys.readouterr().out
        assert cli_main(["--db-url", db_url, "count-user", value]) == 0
        assert "0 live sessions" in capsys.readouterr().out
    assert cli_main(["--db-url", db_url, "count-user", "bystander"]) == 0
    assert "1 live session" in capsys.readouterr().out


# -- secrets --------------------------------------------------------------------------------


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _settings(url: str, data_dir: Path) -> SessionSettings:
    return SessionSettings.from_env(
        {
            "SESSION_DB_URL": url,
            "SESSION_SECRET_KEY": SECRET_KEY,
            "SESSION_SECRET_KEY_FALLBACKS": ",".join(FALLBACK_KEYS),
            "SESSION_DATA_DIR": str(data_dir),
        }
    )


async def test_no_secret_in_logs_or_reprs_during_a_working_session_lifecycle(
    db_url: str, tmp_path: Path, all_logs: pytest.LogCaptureFixture
) -> None:
    url = _with_password(db_url)
    # Redis and memory log nothing at DEBUG themselves: this proves the capture works anyway.
    logging.getLogger("session_service").debug("capture probe")
    settings = _settings(url, tmp_path)
    service = DefaultSessionService(url, settings)
    await service.migrate()
    app = build_app(service)
    app.state.other_service = service
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/login", params={"user": "alice"})
            await client.post("/set", params={"k": "v"})
            await client.get("/read")
            await client.post("/revoke-then-write")
            await client.post("/login", params={"user": "alice"})
            await client.post("/logout")
            await client.get("/read", headers={"cookie": "session_id=forged.signature"})
        backend = service.get_session_store()
        record = _record("alice")
        await backend.save(record)
        await service.cleanup_once()
        reprs = [
            repr(settings),
            str(settings),
            repr(service),
            repr(backend),
            repr(backend.store),
            repr(getattr(backend.store, "engine", None)),  # the SQL stores' engine
            repr(record),
            repr(await backend.load(record.id)),
            repr(Session({"user_id": "alice"}, session_id=record.id)),
            repr(CookieCodec(settings)),
            repr(app.user_middleware),
        ]
    finally:
        await service.close()
    _assert_clean("\n".join(reprs), "a repr")
    _assert_clean(all_logs.text, "the logs")
    assert all_logs.records, "DEBUG logging was not captured at all"


async def test_no_secret_in_errors_logs_or_503_when_the_database_is_down(
    tmp_path: Path, all_logs: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/sessions"
    settings = _settings(url, tmp_path)
    service = DefaultSessionService(url, settings)
    app = build_app(service)
    codec = CookieCodec(settings)
    cookie = codec.set_header("some-session").split(b";", 1)[0].decode()
    try:
        with pytest.raises(SessionStoreUnavailable) as caught:
            await service.migrate()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/read", headers={"cookie": cookie})
            write = await client.post("/set", params={"k": "v"})
    finally:
        await service.close()
    assert response.status_code == 503 and write.status_code == 503
    _assert_clean(response.text + write.text + str(response.headers), "the 503")
    _assert_clean(str(caught.value), "the error message")
    _assert_clean("".join(traceback.format_exception(caught.value)), "the error's traceback")
    _assert_clean(all_logs.text, "the logs")
    assert "cannot reach the session database" in all_logs.text
    assert "***" in str(caught.value)


def test_no_secret_in_cli_output_when_the_database_is_down(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("SESSION_SECRET_KEY_FALLBACKS", ",".join(FALLBACK_KEYS))
    url = f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/sessions"
    for argv in (
        ["--db-url", url, "count-user", "x"],
        ["--db-url", url, "stats", "--json"],
        ["--db-url", url, "migrate"],
        ["--db-url", url, "clear-user", "x"],
    ):
        assert cli_main(argv) == 1
        out, err = capsys.readouterr()
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "cannot reach the session database" in err
        _assert_clean(out + err, f"the CLI output of {argv[2]}")


@pytest.mark.stores("sqlite", "postgres", "redis")  # the CLI refuses memory://
def test_no_secret_in_cli_output_when_the_database_works(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("SESSION_SECRET_KEY_FALLBACKS", ",".join(FALLBACK_KEYS))
    url = _with_password(db_url)
    for argv in (
        ["migrate"],
        ["stats"],
        ["stats", "--json"],
        ["dump", "--json"],
        ["migrate", "--debug"],
    ):
        assert cli_main(["--db-url", url, *argv]) == 0
        out, err = capsys.readouterr()
        _assert_clean(out + err, f"the CLI output of {argv}")
