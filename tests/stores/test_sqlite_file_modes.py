"""The SQLite database is private: its directory 0700, the file and its ``-wal``/``-shm`` 0600,
even under the usual umask 022 (any local user could otherwise read every session id)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from session_service import DefaultSessionService, SessionRecord
from session_service.records import new_session_id, utcnow

from ..support.webapp import SECRET


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _modes(directory: Path, stem: str) -> dict[str, int]:
    return {p.name: _mode(p) for p in directory.iterdir() if p.name.startswith(stem)}


def _modes_in_use(environ: dict[str, str], directory: Path, stem: str) -> dict[str, int]:
    """The modes of the database's files while the app has them open (closing the last
    connection removes ``-wal`` and ``-shm``)."""

    async def go() -> dict[str, int]:
        service = DefaultSessionService.from_env(environ)
        await service.migrate()
        store = service.get_session_store()
        await store.save(SessionRecord(new_session_id(), {"k": 1}, utcnow() + timedelta(hours=1)))
        try:
            return _modes(directory, stem)
        finally:
            await service.close()

    return asyncio.run(go())


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("generated_key", [True, False])
def test_the_default_data_dir_and_database_files_are_private(
    tmp_path: Path, generated_key: bool
) -> None:
    data = tmp_path / "data"
    environ = {"SESSION_DATA_DIR": str(data)}
    if not generated_key:
        environ["SESSION_SECRET_KEY"] = SECRET
    modes = _modes_in_use(environ, data, "sessions.sqlite")
    assert _mode(data) == 0o700
    assert modes == {
        "sessions.sqlite": 0o600,
        "sessions.sqlite-wal": 0o600,
        "sessions.sqlite-shm": 0o600,
    }


@pytest.mark.usefixtures("umask_022")
def test_a_database_file_in_an_existing_directory_is_private(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    environ = {
        "SESSION_DATA_DIR": str(tmp_path),
        "SESSION_DB_URL": url,
        "SESSION_SECRET_KEY": SECRET,
    }
    modes = _modes_in_use(environ, tmp_path, "app.sqlite")
    assert modes == {"app.sqlite": 0o600, "app.sqlite-wal": 0o600, "app.sqlite-shm": 0o600}
