"""Alembic environment for session-service.

Two ways in, one set of revisions:

* from code (``await backend.migrate()``): :mod:`session_service.migrate` opens a connection,
  takes the migration lock and passes the connection in ``config.attributes["connection"]``;
* from the ``alembic`` command: the URL comes from ``SESSION_DB_URL`` through
  :class:`SessionSettings` (or ``-x db_url=...``), and the same locked runner is used.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

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


def _url_from_environment() -> str:
    from session_service.settings import SessionSettings, normalize_db_url

    override = context.get_x_argument(as_dictionary=True).get("db_url")
    if override:
        return normalize_db_url(override)[1]
    return SessionSettings.from_env(need_secret=False).db_url


if context.is_offline_mode():
    context.configure(url=_url_from_environment(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run_on(given)
    else:
        from session_service.stores.sql.migrate import run_locked

        asyncio.run(run_locked(_url_from_environment(), _run_on))
