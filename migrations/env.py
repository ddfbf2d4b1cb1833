"""Alembic environment for session-service.

Two ways in, one set of revisions:

* from code (``await backend.migrate()``): :mod:`session_service.migrate` opens a connection,
  takes the migration lock and passes the connection in ``config.attributes["connection"]``;
* from the ``alembic`` command: the URL comes from ``SESSION_DB_URL`` through
  :class:`SessionSettings` (or ``-x db_url=...``), and the same locked runner is used.

From the command, success is one line saying which revision the database reached, and a
failure (the database down, a URL that is not SQLite or PostgreSQL) is one line on stderr and
exit 1, the password masked, as ``session-service migrate`` does; ``alembic`` called from
Python code gets an ``alembic.util.CommandError`` instead.
"""

from __future__ import annotations

import asyncio
import sys

from alembic import context
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from session_service.errors import SessionConfigError, SessionServiceError
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


def _url_from_environment() -> str:
    """The app's database URL (or ``-x db_url``), refused unless Alembic can migrate it."""
    from session_service.settings import SessionSettings, normalize_db_url

    override = context.get_x_argument(as_dictionary=True).get("db_url")
    if override is not None:
        kind, url = normalize_db_url(override, variable="-x db_url")
        source = "-x db_url"
    else:
        settings = SessionSettings.from_env(need_secret=False)
        kind, url, source = settings.store_kind, settings.db_url, "SESSION_DB_URL"
    if kind not in ("sqlite", "postgres"):
        raise SessionConfigError(
            f"{source} is a {kind} URL: Alembic migrates the SQL stores (sqlite:///PATH, "
            "postgresql://...) only; a Redis or memory store has no schema "
            "(`session-service migrate` checks a Redis server)"
        )
    return url


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
    from session_service.settings import mask_url

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
        url = _url_from_environment()
        if context.is_offline_mode():
            raise SessionConfigError(
                "--sql (offline mode) cannot render these revisions: they look at the live "
                "table (an older unversioned one is adopted, not recreated); run the command "
                "without --sql against the database"
            )
        from session_service.stores.sql.migrate import run_locked

        asyncio.run(run_locked(url, _run_on))
    except SessionServiceError as exc:
        _fail(exc)
    else:
        _report(url)


given = config.attributes.get("connection")
if given is not None:
    _run_on(given)
else:
    _run_command()
