"""Errors a caller can act on, where they need a real server or a URL: an unreachable or
unusable database is ``SessionStoreUnavailable`` with the cause chained and no password, and a
URL the library does not support is ``SessionConfigError``. Refused data is in the store
contract (``session_service.testing.bad_data``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_service import (
    PgSessionStore,
    SessionConfigError,
    SessionDataError,
    SessionRecord,
    SessionServiceError,
    SessionStoreBackend,
    SessionStoreUnavailable,
    SqliteSessionStore,
)
from session_service.records import new_session_id, utcnow

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/none"


def _record(data: dict[str, Any], *, sid: str | None = None) -> SessionRecord:
    return SessionRecord(
        id=sid or new_session_id(), data=data, expiry_date=utcnow() + timedelta(hours=1)
    )


# -- an unreachable or unusable database ---------------------------------------------------


async def test_unreachable_postgres_is_unavailable_with_cause() -> None:
    with pytest.raises(SessionStoreUnavailable, match="cannot reach") as caught:
        await SessionStoreBackend.connect(UNREACHABLE_PG)
    assert caught.value.__cause__ is not None
    assert "127.0.0.1:1" in str(caught.value)


async def test_every_operation_on_an_unreachable_postgres_is_unavailable() -> None:
    backend = SessionStoreBackend.from_url(UNREACHABLE_PG)
    try:
        with pytest.raises(SessionStoreUnavailable, match="cannot reach"):
            await backend.load(new_session_id())
        with pytest.raises(SessionStoreUnavailable, match="cannot reach"):
            await backend.save(_record({"k": 1}))
        with pytest.raises(SessionStoreUnavailable, match="cannot reach"):
            await backend.clear_sessions_for_user("alice")
        with pytest.raises(SessionStoreUnavailable, match="cannot reach"):
            await backend.migrate()
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://u:s3cretpw@127.0.0.1:1/x", "s3cretpw"),
        ("postgres://u:s3cret%40pw%3A@127.0.0.1:1/x", "s3cret"),
    ],
)
async def test_unavailable_error_never_shows_the_password(url: str, password: str) -> None:
    backend = SessionStoreBackend.from_url(url)
    try:
        assert password not in repr(backend)
        assert password not in backend.display_url
        for operation in (backend.ping(), backend.load("x"), backend.count_sessions_for_user(1)):
            with pytest.raises(SessionStoreUnavailable) as caught:
                await operation
            assert password not in str(caught.value)
            assert "cannot reach" in str(caught.value)
            assert caught.value.__cause__ is not None
    finally:
        await backend.close()


async def test_sqlite_file_under_a_regular_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    url = f"sqlite:///{blocker}/sub/sessions.sqlite"
    with pytest.raises((SessionStoreUnavailable, SessionConfigError)) as caught:
        backend = await SessionStoreBackend.connect(url)
        await backend.close()
    message = str(caught.value)
    assert "not-a-dir" in message
    assert "directory" in message.lower()


@pytest.mark.stores("sqlite", "postgres")  # only SQL has a schema to migrate
async def test_store_used_before_migrate_says_to_migrate(db_url: str) -> None:
    backend = await SessionStoreBackend.connect(db_url)
    try:
        with pytest.raises(SessionStoreUnavailable, match="migrate") as caught:
            await backend.load(new_session_id())
        assert caught.value.__cause__ is not None
    finally:
        await backend.close()


async def test_store_errors_are_session_service_errors() -> None:
    assert issubclass(SessionStoreUnavailable, SessionServiceError)
    assert issubclass(SessionDataError, SessionServiceError)
    assert issubclass(SessionConfigError, SessionServiceError)


# -- which store a URL picks ---------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://u@h/db", "valkey://h", "oracle://x", "nope"])
async def test_unknown_scheme_is_a_config_error(url: str) -> None:
    with pytest.raises(SessionConfigError):
        await SessionStoreBackend.connect(url)


async def test_sqlite_memory_url_is_refused() -> None:
    with pytest.raises(SessionConfigError, match="SQLite file"):
        await SessionStoreBackend.connect("sqlite:///:memory:")


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
async def test_sqlite_urls_pick_the_sqlite_store(tmp_path: Path, scheme: str) -> None:
    backend = await SessionStoreBackend.connect(f"{scheme}:///{tmp_path / 's.sqlite'}")
    try:
        assert backend.kind == "sqlite"
        assert isinstance(backend.store, SqliteSessionStore)
        await backend.migrate()
        record = _record({"k": scheme})
        await backend.save(record)
        assert await backend.load(record.id) is not None
    finally:
        await backend.close()
    assert (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_postgres_urls_pick_the_postgres_store(scheme: str) -> None:
    backend = SessionStoreBackend.from_url(f"{scheme}://u:pw@db.example:5432/app")
    assert backend.kind == "postgres"
    assert isinstance(backend.store, PgSessionStore)
    assert backend.display_url == "postgresql+asyncpg://u:***@db.example:5432/app"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
async def test_postgres_scheme_variants_reach_the_same_server(
    pg_server_url: str, scheme: str
) -> None:
    rest = pg_server_url.split("://", 1)[1]
    backend = await SessionStoreBackend.connect(f"{scheme}://{rest}")
    try:
        assert backend.kind == "postgres"
        await backend.ping()
    finally:
        await backend.close()
