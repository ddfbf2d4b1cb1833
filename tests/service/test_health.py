"""``await service.health()`` (docs/operations.md, "Health and readiness"): a report within
``SESSION_DB_TIMEOUT_SECONDS`` that never raises and never shows a password, and the one
start-up log line naming the store kind and its masked URL."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_service import (
    DefaultSessionService,
    HealthReport,
    MemorySessionStore,
    SessionStoreBackend,
)

from ..support.webapp import settings_for

PASSWORD = "pw-never-shown-4417"

#: A URL of each server-backed kind on a port nothing listens on (port 1).
DOWN_URLS = [
    f"postgresql://app:{PASSWORD}@127.0.0.1:1/app",
    f"redis://:{PASSWORD}@127.0.0.1:1/0",
    f"redis+sentinel://:{PASSWORD}@127.0.0.1:1/mymaster/0",
]


async def test_a_reachable_store_is_healthy(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path, store_kind: str
) -> None:
    service = DefaultSessionService(backend, settings_for(db_url, str(tmp_path)))
    report = await service.health()
    assert isinstance(report, HealthReport)
    assert report.ok and report.store == store_kind
    assert report.latency_ms >= 0 and "answered" in report.detail
    assert report.as_dict() == {
        "ok": True,
        "store": store_kind,
        "latency_ms": report.latency_ms,
        "detail": report.detail,
    }


@pytest.mark.parametrize("down", DOWN_URLS, ids=["postgres", "redis", "sentinel"])
async def test_a_store_that_is_down_is_reported_not_raised(down: str, tmp_path: Path) -> None:
    service = DefaultSessionService(down, settings_for(down, str(tmp_path)))
    try:
        report = await service.health()
    finally:
        await service.close()
    assert not report.ok
    assert report.detail.startswith("cannot reach the session database at "), report.detail
    assert "127.0.0.1:1/" in report.detail
    assert PASSWORD not in repr(report) and "***" in report.detail


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung database)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.mark.parametrize(
    "template",
    [
        "postgresql://app:{pw}@127.0.0.1:{port}/app",
        "redis://:{pw}@127.0.0.1:{port}/0",
        "redis+sentinel://:{pw}@127.0.0.1:{port}/mymaster/0",
    ],
    ids=["postgres", "redis", "sentinel"],
)
async def test_a_store_that_never_answers_is_given_up_after_the_timeout(
    template: str, silent_server: int, tmp_path: Path
) -> None:
    url = template.format(pw=PASSWORD, port=silent_server)
    settings = settings_for(url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS="0.3")
    service = DefaultSessionService(url, settings)
    try:
        report = await service.health()  # returning at all is the point: the server is mute
    finally:
        await service.close()
    assert not report.ok
    assert report.detail.endswith(" did not answer within 0.3 s"), report.detail
    assert f"127.0.0.1:{silent_server}/" in report.detail
    assert PASSWORD not in repr(report) and "***" in report.detail


class _StuckStore(MemorySessionStore):
    """A store whose ping hangs and swallows the cancellation (as redis-py now and then does
    mid-command), until the test lets it go."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.release = asyncio.Event()

    async def ping(self) -> None:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                continue  # swallowed: the ping goes on waiting


@pytest.mark.stores("memory")
async def test_a_ping_that_swallows_the_cancellation_is_still_given_up(
    db_url: str, tmp_path: Path
) -> None:
    store = _StuckStore(db_url)
    settings = settings_for(db_url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS="0.2")
    service = DefaultSessionService(SessionStoreBackend(store), settings)
    checking = asyncio.ensure_future(service.health())
    try:
        # A hang guard, not a timing threshold: without the bound this waits forever.
        done, _ = await asyncio.wait([checking], timeout=60)
        assert checking in done, "health() hung on a ping that ignores its cancellation"
        report = checking.result()
    finally:
        store.release.set()
        checking.cancel()
    assert not report.ok and "did not answer within 0.2 s" in report.detail


class _LeakyStore(MemorySessionStore):
    """A store whose driver raises an error of its own, with the URL and password in its text."""

    async def ping(self) -> None:
        raise ConnectionError(f"could not log in to postgresql://app:{PASSWORD}@db/app")


@pytest.mark.stores("memory")
async def test_a_driver_error_shows_its_class_never_its_text(db_url: str, tmp_path: Path) -> None:
    service = DefaultSessionService(
        SessionStoreBackend(_LeakyStore(db_url)), settings_for(db_url, str(tmp_path))
    )
    report = await service.health()
    assert not report.ok and report.store == "memory"
    assert "ConnectionError" in report.detail
    assert PASSWORD not in repr(report) and "postgresql://" not in report.detail


async def test_start_up_logs_the_store_kind_and_masked_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, pg_db_url: str
) -> None:
    base, _, rest = pg_db_url.partition("://")
    userinfo, _, hostpart = rest.partition("@")
    url = f"{base}://{userinfo.split(':')[0]}:{PASSWORD}@{hostpart}"
    caplog.set_level(logging.INFO, logger="session_service")
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    async with service:
        pass
    lines = [r.getMessage() for r in caplog.records if "session store:" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("session store: postgres at postgresql")
    assert "***" in lines[0] and hostpart.split("/")[0] in lines[0]
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
