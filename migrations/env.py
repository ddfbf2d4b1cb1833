"""Alembic environment for session-service.

Two ways in, one set of revisions:

* from code (``await backend.migrate()``): the SQL store opens a connection, takes the
  migration lock and passes the connection in ``config.attributes["connection"]``;
* from the ``alembic`` command: the store is built from the settings as the app builds it
  (``SESSION_DB_URL``, or ``-x db_url=...``, through
  :meth:`SessionStoreBackend.from_settings`), and its same locked runner is used.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from session_service.backend import SessionStoreBackend
from session_service.errors import SessionConfigError
from session_service.settings import SessionSettings
from session_service.stores.sql import SqlSessionStore
from session_service.stores.sql.schema import metadata

config = context.config


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _settings() -> SessionSettings:
    """The app's settings (the command signs nothing: no key needed), ``-x db_url`` first."""
    override = context.get_x_argument(as_dictionary=True).get("db_url")
    environ = dict(os.environ)
    if override:
        environ["SESSION_DB_URL"] = override
    return SessionSettings.from_env(environ, need_secret=False)


async def _run_from_command() -> None:
    store = SessionStoreBackend.from_settings(_settings()).store
    if not isinstance(store, SqlSessionStore):
        raise SessionConfigError(
            f"alembic migrates the SQL stores only, not {store.kind}: point SESSION_DB_URL "
            "(or -x db_url=...) at SQLite or PostgreSQL"
        )
    try:
        await store.run_migration(_run_on)
    finally:
        await store.close()


if context.is_offline_mode():
    context.configure(url=_settings().db_url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run_on(given)
    else:
        asyncio.run(_run_from_command())
