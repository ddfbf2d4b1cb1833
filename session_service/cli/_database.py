"""Where the CLI's database comes from, and when it may be created.

The settings are the app's (:meth:`SessionSettings.from_env`), with ``--db-url`` in place of
``SESSION_DB_URL``; read commands never create a SQLite file, and ``migrate`` creates only the
default data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import make_url

from ..backend import SessionStoreBackend
from ..errors import SessionConfigError, SessionStoreUnavailable
from ..settings import SessionSettings

PROG = "session-service"


def load_settings(db_url: str | None, environ: Mapping[str, str] | None = None) -> SessionSettings:
    """The app's settings, with ``db_url`` (from ``--db-url``) in place of ``SESSION_DB_URL``.

    The CLI never signs a cookie, so it reads them with ``need_secret=False``: no key file
    is created as a side effect, and in cluster mode an operator needs only the database URL.
    A key that *is* set is still validated, so a broken app configuration is reported here too.
    """
    env = dict(os.environ if environ is None else environ)
    if db_url is not None:
        env["SESSION_DB_URL"] = db_url
    try:
        return SessionSettings.from_env(env, need_secret=False)
    except SessionConfigError as exc:
        if db_url is None:
            raise
        # The message names the variable it validated; the user typed the flag.
        raise SessionConfigError(str(exc).replace("SESSION_DB_URL", "--db-url")) from exc


def missing_sqlite_file(settings: SessionSettings) -> Path | None:
    """The SQLite file the URL names, if it does not exist yet (``None`` otherwise).

    Opening a missing SQLite file creates it (and its directory); an admin command run from
    the wrong directory would then leave an empty database behind and fail on the missing
    table. Only ``migrate`` may create the database.
    """
    if settings.store_kind != "sqlite":
        return None
    database = make_url(settings.db_url).database
    if not database:
        return None
    path = Path(database).expanduser().absolute()
    return None if path.exists() else path


def _check_directory(settings: SessionSettings) -> None:
    """``migrate`` creates the default data directory (private), never another one: a missing
    directory in an explicit URL is a typo, and creating it would hide the mistake."""
    missing = missing_sqlite_file(settings)
    if missing is None or missing.parent.is_dir():
        return
    if missing.parent == settings.data_dir:
        missing.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return
    raise SessionStoreUnavailable(
        f"the directory {missing.parent} of the SQLite database does not exist: create it, "
        "or fix SESSION_DB_URL or --db-url"
    )


async def open_backend(settings: SessionSettings, *, create: bool) -> SessionStoreBackend:
    if create:
        _check_directory(settings)
    missing = None if create else missing_sqlite_file(settings)
    if missing is not None:
        default = missing == settings.data_dir / "sessions.sqlite"
        hint = " (the default in SESSION_DATA_DIR, as SESSION_DB_URL is unset)" if default else ""
        raise SessionStoreUnavailable(
            f"no session database at {missing}{hint}: run `{PROG} migrate` to create it, "
            "or point SESSION_DB_URL or --db-url at the existing one"
        )
    # An operator's one-shot command works on the store itself: a read cache (SESSION_CACHE,
    # which the app's environment may set) would only start a listener for nothing.
    backend = SessionStoreBackend.from_settings(replace(settings, cache="off"))
    await backend.store.ping()
    return backend
