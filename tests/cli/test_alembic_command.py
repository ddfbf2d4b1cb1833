"""`alembic upgrade head`, as the README tells operators to run it, on both backends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..conftest import SCHEMA_HEAD

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.stores("sqlite", "postgres")  # Alembic: the SQL stores alone


def test_alembic_upgrade_head_uses_session_db_url_and_creates_no_key(
    db_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "SESSION_DB_URL": db_url, "SESSION_DATA_DIR": str(data_dir)}
    env.pop("SESSION_SECRET_KEY", None)
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    for _ in range(2):  # idempotent
        done = subprocess.run(
            [*alembic, "upgrade", "head"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    current = subprocess.run(
        [*alembic, "current"], env=env, capture_output=True, text=True, check=True
    )
    assert f"{SCHEMA_HEAD} (head)" in current.stdout
    assert not (data_dir / "secret_key").exists()

    async def store_works() -> int:
        backend = await SessionStoreBackend.connect(db_url)
        try:
            record = SessionRecord(new_session_id(), {"user_id": "u"}, utcnow().replace(year=2100))
            await backend.save(record)
            return await backend.count_sessions_for_user("u")
        finally:
            await backend.close()

    assert asyncio.run(store_works()) == 1


def test_alembic_shows_no_password_for_a_bad_or_unreachable_url(tmp_path: Path) -> None:
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"]
    cases = {
        "postgresql://app:p@ss:w/rd%?#@host/db": "SESSION_DB_URL is not a valid database URL",
        "postgresql://app@127.0.0.1:1/db?password=s3cret": "127.0.0.1:1/db?password=***",
    }
    for url, expected in cases.items():
        env = {**os.environ, "SESSION_DB_URL": url, "SESSION_DATA_DIR": str(tmp_path)}
        done = subprocess.run(alembic, env=env, capture_output=True, text=True, check=False)
        assert done.returncode != 0
        assert expected in done.stderr, done.stderr
        assert "ss:w" not in done.stderr and "s3cret" not in done.stderr
