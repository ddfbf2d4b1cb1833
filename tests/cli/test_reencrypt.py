"""``session-service reencrypt`` as an operator rotates the encryption key, on SQLite,
PostgreSQL and Redis (the CLI refuses memory://; the store contract covers it there): data
sealed under key A, the settings changed to ``B,A``, ``reencrypt`` run (resumable: a second
run rewrites nothing), A dropped, and every session still loads with its data."""

from __future__ import annotations

import asyncio
import json
import os
import pty
from pathlib import Path

import pytest

from session_service import SessionRecord, SessionSettings, SessionStoreBackend
from session_service.backend import apply_encryption
from session_service.testing.encryption import keys_setting

from .test_cli import ok, one_error_line, run, session

pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")
pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")


def _backend(url: str, keys: str | None) -> SessionStoreBackend:
    env = (
        {"SESSION_DB_URL": url}
        if keys is None
        else {"SESSION_DB_URL": url, "SESSION_ENCRYPTION_KEYS": keys}
    )
    settings = SessionSettings.from_env(env, need_secret=False)
    backend = SessionStoreBackend.from_url(url)
    apply_encryption(backend.store, settings)
    return backend


def _seed(url: str, keys: str | None, records: list[SessionRecord]) -> None:
    async def go() -> None:
        backend = _backend(url, keys)
        try:
            await backend.migrate()
            for record in records:
                await backend.save(record)
        finally:
            await backend.close()

    asyncio.run(go())


def _loaded(url: str, keys: str, ids: list[str]) -> list[dict[str, object] | None]:
    async def go() -> list[dict[str, object] | None]:
        backend = _backend(url, keys)
        try:
            found = [await backend.load(i) for i in ids]
            return [None if r is None else r.data for r in found]
        finally:
            await backend.close()

    return asyncio.run(go())


def test_reencrypt_then_the_old_key_can_go(db_url: str, tmp_path: Path) -> None:
    material: dict[str, str] = {}
    only_a = keys_setting("A", keys=material)
    records = [session(f"user{i}") for i in range(5)]
    _seed(db_url, only_a, records)
    b_first = keys_setting("B", "A", keys=material)
    env = {"SESSION_DB_URL": db_url, "SESSION_ENCRYPTION_KEYS": b_first}
    first = json.loads(ok(run("--json", "reencrypt", "--batch-size", "2",
                              data_dir=tmp_path, env=env)))  # fmt: skip
    assert first == {
        "reencrypted": 5,
        "already_current": 0,
        "gone": 0,
        "unreadable": 0,
        "busy": 0,
        "nothing_to_encrypt": 0,
    }
    again = ok(run("reencrypt", data_dir=tmp_path, env=env))
    assert again.startswith("re-encrypted 0 sessions") and "5 sessions already were" in again
    only_b = keys_setting("B", keys=material)
    assert _loaded(db_url, only_b, [r.id for r in records]) == [r.data for r in records]
    for text in (first, again):
        assert all(key not in str(text) for key in material.values())


def test_sessions_holding_only_a_user_have_nothing_to_encrypt(db_url: str, tmp_path: Path) -> None:
    """``user_id`` stays plain (the by-user index reads it), so a signed-in session that holds
    nothing else was never sealed under any key: it is not "already" under the first one."""
    material: dict[str, str] = {}
    signed_in = [session(None) for _ in range(2)]
    for record in signed_in:
        record.data = {"user_id": "alice"}
    _seed(db_url, keys_setting("A", keys=material), [*signed_in, session("bob")])
    env = {
        "SESSION_DB_URL": db_url,
        "SESSION_ENCRYPTION_KEYS": keys_setting("B", "A", keys=material),
    }
    text = ok(run("reencrypt", data_dir=tmp_path, env=env))
    assert text.startswith("re-encrypted 1 session under the first key"), text
    assert "2 sessions hold nothing to encrypt (user_id stays plain)" in text, text
    assert "already" not in text and "the older keys can now be removed" in text, text
    again = json.loads(ok(run("--json", "reencrypt", data_dir=tmp_path, env=env)))
    assert (again["reencrypted"], again["already_current"], again["nothing_to_encrypt"]) == (
        0,
        1,
        2,
    )


def test_reencrypt_without_keys_is_one_clear_line(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, None, [session("alice")])
    line = one_error_line(run("reencrypt", data_dir=tmp_path, env={"SESSION_DB_URL": db_url}))
    assert "SESSION_ENCRYPTION_KEYS" in line
    assert "SessionStoreBase" not in line, line  # the class of a store of one's own: not here


def test_a_malformed_key_is_one_line_that_shows_no_key(db_url: str, tmp_path: Path) -> None:
    short = "c2hvcnQta2V5LW1hdGVyaWFs"  # 18 bytes
    env = {"SESSION_DB_URL": db_url, "SESSION_ENCRYPTION_KEYS": f"A:{short}"}
    line = one_error_line(run("reencrypt", data_dir=tmp_path, env=env))
    assert "SESSION_ENCRYPTION_KEYS" in line and "32 bytes" in line and short not in line


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_reencrypt_shows_progress_on_a_terminal(db_url: str, tmp_path: Path) -> None:
    material: dict[str, str] = {}
    _seed(db_url, keys_setting("A", keys=material), [session(f"u{i}") for i in range(5)])
    env = {
        "SESSION_DB_URL": db_url,
        "SESSION_ENCRYPTION_KEYS": keys_setting("B", "A", keys=material),
    }
    controller, terminal = pty.openpty()
    try:
        result = run("reencrypt", "--batch-size", "2", data_dir=tmp_path, env=env,
                     stderr=terminal)  # fmt: skip
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
    assert ok(result).startswith("re-encrypted 5 sessions")
    shown = seen.decode()
    assert "\rchecked 2…" in shown and "\rchecked 4…" in shown and "\rchecked 5…" in shown
