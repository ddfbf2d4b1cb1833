"""Alembic environment for session-service.

Two ways in, one set of revisions:

* from code (``await backend.migrate()``): the SQL store opens a connection, takes the
  migration lock and passes the connection in ``config.attributes["connection"]``;
* from the ``alembic`` command: the store is built from the settings as the app builds it
  (``SESSION_DB_URL``, or ``-x db_url=...``, through
  :meth:`SessionStoreBackend.from_settings`), and its same locked runner is used.

From the command, success is one line saying which revision the database reached, and a
failure (the database down, a URL that is not SQLite or PostgreSQL) is one line on stderr and
exit 1, the password masked, as ``session-service migrate`` does; ``alembic`` called from
Python code gets an ``alembic.util.CommandError`` instead.
"""

from __future__ import annotations

import asyncio
import os
import sys

from alembic import context
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from session_service.backend import SessionStoreBackend
from session_service.errors import SessionConfigError, SessionServiceError
from session_service.settings import SessionSettings, mask_url, normalize_db_url
from session_service.stores.sql import SqlSessionStore
from session_service.stores.sql.schema import metadata

config = context.config
#: The commands that move the schema, and so end with "... at revision X".
_MOVING = {"upgrade", "downgrade", "stamp"}


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    config.attributes["before"] = context.get_context().get_current_revision()
    with context.begin_transaction():
        context.run_migrations()
    config.attributes["after"] = context.get_context().get_current_revision()


def _settings() -> SessionSettings:
    """The app's settings (the command signs nothing: no key needed), with ``-x db_url`` as
    ``SESSION_DB_URL``; refused unless Alembic can migrate that database."""
    override = context.get_x_argument(as_dictionary=True).get("db_url")
    environ = dict(os.environ)
    source = "SESSION_DB_URL" if override is None else "-x db_url"
    # Refused by its scheme first: without the redis extra, parsing a Redis URL would ask
    # for a package that changes nothing here.
    _refuse_unless_sql(environ.get("SESSION_DB_URL", "") if override is None else override, source)
    if override is not None:
        environ["SESSION_DB_URL"] = normalize_db_url(override, variable=source)[1]
    settings = SessionSettings.from_env(environ, need_secret=False)
    _refuse_unless_sql(settings.store_kind, source)
    return settings


def _refuse_unless_sql(url_or_kind: str, source: str) -> None:
    """Refuse a Redis or memory URL (or store kind): they have no schema to migrate."""
    kind = url_or_kind.strip().partition(":")[0].lower()
    kind = "redis" if kind.startswith("redis") else kind
    if kind in ("redis", "memory"):
        raise SessionConfigError(
            f"{source} is a {kind} URL: Alembic migrates the SQL stores (sqlite:///PATH, "
            "postgresql://...) only; a Redis or memory store has no schema "
            "(`session-service migrate` checks a Redis server)"
        )


async def _migrate(settings: SessionSettings) -> None:
    """The store the app would open, migrated with its own locked runner."""
    store = SessionStoreBackend.from_settings(settings).store
    assert isinstance(store, SqlSessionStore)  # _settings refused the others
    try:
        await store.run_migration(_run_on)
    finally:
        await store.close()


def _command_name() -> str | None:
    """The ``alembic`` subcommand being run, or ``None`` when called from Python code."""
    options = getattr(config, "cmd_opts", None)
    command = getattr(options, "cmd", None)
    return getattr(command[0], "__name__", None) if command else None


def _fail(exc: SessionServiceError) -> None:
    if _command_name() is None:
        raise CommandError(str(exc)) from exc
    sys.stderr.write(f"alembic: {' '.join(str(exc).split())}\n")
    raise SystemExit(1)


def _report(url: str) -> None:
    if _command_name() not in _MOVING:
        return
    before, after = config.attributes.get("before"), config.attributes.get("after")
    where = f"the session database at {mask_url(url)}"
    if before == after:
        print(f"{where} is already at revision {after or 'none'}; nothing changed")
    else:
        print(f"migrated {where} from revision {before or 'none (empty)'} to revision {after}")


def _run_command() -> None:
    try:
        settings = _settings()
        if context.is_offline_mode():
            raise SessionConfigError(
                "--sql (offline mode) cannot render these revisions: they look at the live "
                "table (an older unversioned one is adopted, not recreated); run the command "
                "without --sql against the database"
            )
        asyncio.run(_migrate(settings))
    except SessionServiceError as exc:
        _fail(exc)
    else:
        _report(settings.db_url)


given = config.attributes.get("connection")
if given is not None:
    _run_on(given)
else:
    _run_command()
