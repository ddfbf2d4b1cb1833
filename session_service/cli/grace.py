"""``session-service caches-upgraded``: end revision 0010's upgrade grace (PostgreSQL).

Since revision 0010 the revocation triggers notify only while a read cache is registered in
``session_service_listeners``; the caches of older releases listen without registering. So
an upgrade of a database in use leaves a registration that never ends (server process 0,
migrations/versions/0010_notify_listeners.py): every revocation is still notified, whether
the code or the schema was upgraded first. Only the operator knows when the last old
instance is gone; this command is how they say so. It removes that one row, never a cache's
own registration, and says what it found; run again, it finds nothing to end (exit 0).
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from .._words import plural
from ..backend import SessionStoreBackend
from ..errors import SessionServiceError
from ..stores._errors import translate_errors
from ..stores.sql.store import SqlSessionStore
from . import output as out
from ._database import PROG

NAME = "caches-upgraded"
_HAS_REGISTRY = text("SELECT to_regclass('session_service_listeners') IS NOT NULL")
_HAS_TRIGGERS = text("SELECT to_regproc('session_service_notify_moved') IS NOT NULL")
_GRACE = "pid = 0 AND (until IS NULL OR until > now())"
_IN_GRACE = text(f"SELECT EXISTS (SELECT 1 FROM session_service_listeners WHERE {_GRACE})")
#: Removes the grace, also one over already (a row of an earlier 0010 that had an end).
_END = text(f"DELETE FROM session_service_listeners WHERE pid = 0 RETURNING ({_GRACE})")
_REGISTERED = text("SELECT count(*) FROM session_service_listeners WHERE pid <> 0")
#: What ``migrate`` adds when it left a grace (and why the command exists).
MIGRATE_NOTE = (
    "the revocation triggers notify on every revocation, as caches of older releases never "
    "register to hear them: once every instance runs this release, run "
    f"`{PROG} {NAME}` to notify only while a read cache listens (cheaper logins)"
)


class NotApplicable(SessionServiceError):
    """The command asked of a store it does not concern (exit 1, one line)."""


def _postgres(b: SessionStoreBackend) -> SqlSessionStore | None:
    store = getattr(b.store, "inner", b.store)  # `health` keeps the app's read cache
    return store if b.kind == "postgres" and isinstance(store, SqlSessionStore) else None


async def triggers(b: SessionStoreBackend) -> str | None:
    """What the revocation triggers notify, for ``health`` (``None``: no triggers here)."""
    store = _postgres(b)
    if store is None or await store.schema_revision() is None:
        return None
    with translate_errors(store.display_url, "read the revocation triggers' state"):
        async with store.engine.connect() as conn:
            if not await conn.scalar(_HAS_REGISTRY):
                if not await conn.scalar(_HAS_TRIGGERS):  # before revision 0006
                    return None
                return "notifying every revocation (schema before 0010_notify_listeners)"
            if await conn.scalar(_IN_GRACE):
                return "notifying every revocation (upgrade grace)"
    return "notifying while a cache listens"


async def in_grace(b: SessionStoreBackend) -> bool:
    """Whether the triggers notify every revocation for an upgrade (False off PostgreSQL)."""
    store = _postgres(b)
    if store is None:
        return False
    with translate_errors(store.display_url, "read the revocation triggers' state"):
        async with store.engine.connect() as conn:
            if not await conn.scalar(_HAS_REGISTRY):
                return False
            return bool(await conn.scalar(_IN_GRACE))


async def caches_upgraded(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    store = _postgres(b)
    if store is None:
        raise NotApplicable(
            f"{NAME} is for PostgreSQL only: a {b.kind} store has no revocation triggers, "
            "so there is no upgrade grace to end"
        )
    where = f"the session database at {b.display_url}"
    with translate_errors(store.display_url, "end the upgrade grace"):
        async with store.engine.begin() as conn:
            has_registry = bool(await conn.scalar(_HAS_REGISTRY))
            if has_registry:
                ended = any(row[0] for row in (await conn.execute(_END)).all())
                registered = int(await conn.scalar(_REGISTERED) or 0)
    if not has_registry:
        revision = await store.schema_revision()
        state = "has no schema yet" if revision is None else f"is at revision {revision}"
        raise NotApplicable(
            f"{where} {state}, before 0010_notify_listeners (whose triggers notify on every "
            f"revocation): run `{PROG} migrate` first"
        )
    now = f"({plural(registered, 'read cache')} registered now)"
    text_ = (
        f"ended the upgrade grace on {where}: the revocation triggers now notify only while "
        f"a read cache is registered {now}"
        if ended
        else f"no upgrade grace to end on {where}: the revocation triggers already notify "
        f"only while a read cache is registered {now}"
    )
    return out.Result(text_, {"ended": ended, "registered": registered, "database": b.display_url})
