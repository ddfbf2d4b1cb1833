"""Issue 24's last frictions: one-line errors and log lines in plain words.

An operator reads ``file is not a database`` or ``role "nobody" does not exist``; the
exception's class (``DatabaseError``, ``InvalidAuthorizationSpecificationError``,
``ResponseError``) is for ``--debug``'s traceback. Counts agree with their noun and carry
thousands separators wherever they are written, the library's log lines included.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from session_service import DefaultSessionService
from session_service.cli.output import Progress

from ..support.webapp import settings_for
from .test_cli import cli, one_error_line, run, session

__all__ = ["cli"]  # the fixture, shared with tests/cli/test_cli.py

#: A word that reads as an exception class: CamelCase ending in Error or Exception.
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


def _broken_url(store_kind: str, db_url: str, tmp_path: Path) -> str:
    """A URL of ``store_kind`` that the server (or file) answers with an error no rule of
    ours words: the raw error's own text is all there is to show."""
    if store_kind == "sqlite":
        bad = tmp_path / "not-a-database.sqlite"
        bad.write_bytes(b"this is no SQLite file, " * 8)
        return f"sqlite:///{bad}"
    parts = urlsplit(db_url)
    if store_kind == "postgres":  # a role the server does not know
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"no_such_role_h24@{host}"))
    return urlunsplit(parts._replace(path="/99"))  # redis: a database index out of range


@pytest.mark.stores("sqlite", "postgres", "redis")
def test_a_store_error_is_shown_in_its_own_words_never_its_class(
    store_kind: str, db_url: str, tmp_path: Path
) -> None:
    url = _broken_url(store_kind, db_url, tmp_path)
    line = one_error_line(run("--db-url", url, "stats", data_dir=tmp_path))
    assert not CLASS_NAME.search(line), line
    wanted = {"sqlite": "file is not a database", "postgres": "no_such_role_h24"}
    assert wanted.get(store_kind, "out of range") in line, line


def test_the_store_error_words_name_no_class() -> None:
    import redis.exceptions as rx

    from session_service.cache.local import describe as cache_describe
    from session_service.stores._errors import describe as sql_describe
    from session_service.stores.redis.failures import describe as redis_describe

    for describe, exc in [
        (sql_describe, ValueError("an odd answer")),
        (redis_describe, rx.ResponseError("an odd answer")),
        (cache_describe, RuntimeError("an odd answer")),
    ]:
        assert describe(exc) == "an odd answer", describe
    # No words at all: still no class name, a plain phrase instead.
    for describe, exc in [
        (sql_describe, ValueError()),
        (redis_describe, rx.ResponseError()),
        (cache_describe, RuntimeError()),
    ]:
        assert not CLASS_NAME.search(describe(exc)), describe(exc)


@pytest.mark.stores("sqlite")
def test_the_running_count_has_thousands_separators() -> None:
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    progress = Progress(stream)
    progress(12345)
    assert "12,345" in stream.getvalue(), stream.getvalue()


@pytest.mark.stores("memory")
async def test_the_cleanup_log_line_agrees_with_its_count(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="3600")
    service = DefaultSessionService(db_url, settings)
    await service.migrate()
    await service.get_session_store().save(session("alice", expired=True))
    with caplog.at_level(logging.INFO, logger="session_service"):
        async with service:
            await asyncio.wait_for(service._cleanup_ran.wait(), timeout=30)
    lines = [r.getMessage() for r in caplog.records if "expired session" in r.getMessage()]
    assert lines == ["deleted 1 expired session"], lines
