"""``session-service caches-upgraded``: ends revision 0010's upgrade grace once every instance
runs this release, and ``migrate`` says when there is a grace to end (PostgreSQL only).

What the grace keeps working (an old cache hearing every revocation) is in
tests/stores/test_upgrade_grace.py; here: the exit codes and what each command says.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from session_service import SessionStoreBackend
from session_service.stores.sql import migrate
from session_service.stores.sql.store import SqlSessionStore

from .test_cli import Cli, cli, ok, one_error_line, run

__all__ = ["cli"]

pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


async def _to_0009(url: str) -> None:
    """The database as older code left it: revision 0009, in use."""
    backend = await SessionStoreBackend.connect(url)
    try:
        await backend.migrate()
        store = backend.store
        assert isinstance(store, SqlSessionStore)

        def down(conn: Connection) -> None:
            command.downgrade(migrate._alembic_config(conn), "0009_login_signed_out")

        await store.run_migration(down)
    finally:
        await backend.close()


def test_migrate_over_0009_says_the_triggers_notify_until_the_command(
    pg_db_url: str, tmp_path: Path
) -> None:
    asyncio.run(_to_0009(pg_db_url))
    said = ok(run("migrate", data_dir=tmp_path, env={"SESSION_DB_URL": pg_db_url}))
    lines = said.splitlines()
    assert len(lines) == 2, said
    assert "every revocation" in lines[1] and "session-service caches-upgraded" in lines[1]
    assert "older" in lines[1]  # why: caches of older code never register
    again = ok(run("migrate", data_dir=tmp_path, env={"SESSION_DB_URL": pg_db_url}))
    assert "caches-upgraded" not in again  # nothing ran


def test_caches_upgraded_ends_the_grace_once_and_says_so(pg_db_url: str, tmp_path: Path) -> None:
    asyncio.run(_to_0009(pg_db_url))
    env = {"SESSION_DB_URL": pg_db_url}
    ok(run("migrate", data_dir=tmp_path, env=env))
    first = ok(run("caches-upgraded", data_dir=tmp_path, env=env))
    assert first.startswith("ended the upgrade grace"), first
    assert "0 read caches registered now" in first
    second = ok(run("caches-upgraded", data_dir=tmp_path, env=env))
    assert second.startswith("no upgrade grace to end"), second
    document = json.loads(ok(run("caches-upgraded", "--json", data_dir=tmp_path, env=env)))
    assert document["ended"] is False and document["registered"] == 0
    assert "password" not in json.dumps(document)


def test_caches_upgraded_refuses_a_schema_before_0010(pg_db_url: str, tmp_path: Path) -> None:
    asyncio.run(_to_0009(pg_db_url))
    done = run("caches-upgraded", data_dir=tmp_path, env={"SESSION_DB_URL": pg_db_url})
    line = one_error_line(done)
    assert "0009_login_signed_out" in line and "session-service migrate" in line


def test_caches_upgraded_refuses_a_database_never_migrated(pg_db_url: str, tmp_path: Path) -> None:
    done = run("caches-upgraded", data_dir=tmp_path, env={"SESSION_DB_URL": pg_db_url})
    assert "session-service migrate" in one_error_line(done)


def test_caches_upgraded_is_for_postgresql_only(cli: Cli, store_kind: str) -> None:
    ok(cli("migrate"))
    if store_kind == "postgres":
        assert ok(cli("caches-upgraded")).startswith("no upgrade grace to end")
        return
    line = one_error_line(cli("caches-upgraded"))
    assert "PostgreSQL" in line and f"a {store_kind} store" in line


def test_migrate_elsewhere_says_nothing_of_a_grace(cli: Cli) -> None:
    assert "caches-upgraded" not in ok(cli("migrate"))


def test_health_says_whether_the_triggers_notify_every_revocation(
    pg_db_url: str, tmp_path: Path
) -> None:
    asyncio.run(_to_0009(pg_db_url))
    env = {"SESSION_DB_URL": pg_db_url}
    older = ok(run("health", data_dir=tmp_path, env=env))
    assert "notifying every revocation (schema before 0010_notify_listeners)" in older
    ok(run("migrate", data_dir=tmp_path, env=env))
    during = json.loads(ok(run("health", "--json", data_dir=tmp_path, env=env)))
    assert during["detail"].endswith("notifying every revocation (upgrade grace)")
    ok(run("caches-upgraded", data_dir=tmp_path, env=env))
    after = ok(run("health", data_dir=tmp_path, env=env))
    assert "notifying while a cache listens" in after and "grace" not in after
