"""The CLI's session commands: what each one does to the store and what it says back.

Every handler takes the open backend, the parsed arguments and the progress counter, and
returns an :class:`~.output.Result` (a sentence or table for people, a document for
``--json``); :mod:`session_service.cli` runs them and owns the exit codes.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Awaitable, Callable

from ..backend import SessionStoreBackend
from ..errors import SessionServiceError
from . import grace as grace_command
from . import limits as limit_commands
from . import output as out

Result = out.Result


class NothingToDo(SessionServiceError):
    """A command that found nothing to act on where the operator named something (exit 1)."""


async def migrate(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    revision: Callable[[], Awaitable[str | None]] | None = getattr(b.store, "schema_revision", None)
    before = await revision() if revision is not None else None
    if "on_progress" in inspect.signature(b.store.migrate).parameters:  # Redis: keys renamed
        await b.store.migrate(on_progress=p)  # type: ignore[call-arg]
    else:
        await b.migrate()
    p.finish()
    after = await revision() if revision is not None else None
    changed = before != after
    where = f"the session database at {b.display_url}"
    if revision is None:  # Redis: no schema; migrate() checked the server, moved old keys
        moved = f"; {out.plural(p.count, 'session')} filed under a hashed id" if p.count else ""
        return Result(
            f"{where} is ready: a {b.kind} store has no schema to migrate{moved}",
            {"from": None, "to": None, "changed": p.count > 0, "moved": p.count,
             "database": b.display_url},
        )  # fmt: skip
    text = (
        f"migrated {where} from revision {before or 'none (empty)'} to {after} (the newest schema)"
        if changed
        else f"{where} is already at the newest schema (revision {after}); nothing changed"
    )
    # Revision 0010 just ran on a database in use (PostgreSQL): say what is left to do.
    grace = changed and before is not None and await grace_command.in_grace(b)
    if grace:
        text += "\n" + grace_command.MIGRATE_NOTE
    return Result(
        text,
        {"from": before, "to": after, "changed": changed, "database": b.display_url,
         "upgrade_grace": grace},
    )  # fmt: skip


async def clear_user(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    n = await b.clear_sessions_for_user(a.user_id, tenant_id=a.tenant)
    return Result(
        f"cleared {out.plural(n, 'session')} {out.for_user(a.user_id, a.tenant)}",
        {"cleared": n, "user_id": a.user_id, "tenant_id": a.tenant},
    )


async def revoke(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    """One session of a user, named by the handle ``list-user`` shows (the devices page's
    "sign out this one"); a handle of nobody, of another user or of an expired session is a
    failure (exit 1), so a script learns that nothing was signed out."""
    who = out.for_user(a.user_id, a.tenant)
    if not await b.revoke_user_session(a.user_id, a.handle, tenant_id=a.tenant):
        raise NothingToDo(
            f"no live session {out.printable(a.handle)} {who}: nothing signed out "
            f"(`list-user {out.printable(a.user_id)}` shows the handles)"
        )
    return Result(
        f"signed out session {out.printable(a.handle)} {who}",
        {"revoked": True, "user_id": a.user_id, "tenant_id": a.tenant, "handle": a.handle},
    )


async def clear_all(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    n = await b.clear_all_sessions(tenant_id=a.tenant, batch_size=a.batch_size, on_progress=p)
    where = "" if a.tenant is None else f" in tenant {out.printable(a.tenant)}"
    return Result(
        f"cleared {out.plural(n, 'session')}{where}", {"cleared": n, "tenant_id": a.tenant}
    )


async def count_user(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    n = await b.count_sessions_for_user(a.user_id, tenant_id=a.tenant)
    return Result(
        f"{out.plural(n, 'live session')} {out.for_user(a.user_id, a.tenant)}",
        {"live_sessions": n, "user_id": a.user_id, "tenant_id": a.tenant},
    )


async def list_user(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    records = out.most_recent_first(await b.list_sessions_for_user(a.user_id, tenant_id=a.tenant))
    document = [out.session_document(r, with_data=False) for r in records]
    title = f"{out.plural(len(records), 'live session')} {out.for_user(a.user_id, a.tenant)}"
    if not records:
        return Result(title, document)
    return Result(f"{title}\n\n{out.sessions_table(records, dump=False)}", document)


async def cleanup(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    n = await b.delete_expired(batch_size=a.batch_size, on_progress=p)
    entries = await limit_commands.delete_expired(b)
    text = f"deleted {out.plural(n, 'expired session')}"
    if entries:
        text += f" and {out.plural(entries, 'expired rate-limit or counter entry')}"
    return Result(text, {"deleted": n, "deleted_limit_entries": entries})


async def stats(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    s = await b.stats()
    return Result(out.stats_text(s), out.stats_document(s))


async def dump(b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress) -> Result:
    """Every live session, or the ``--limit`` most recently active (the store reads them all
    either way: ``--limit`` keeps a screen, not the database, from being flooded)."""
    records = out.most_recent_first(await b.dump_all_sessions(tenant_id=a.tenant))
    shown = records if a.limit is None else records[: a.limit]
    document = [out.session_document(r, with_data=True) for r in shown]
    if not records:
        return Result("0 live sessions", document)
    table = out.sessions_table(shown, dump=True)
    if len(shown) < len(records):
        title = f"{len(shown):,} of {out.plural(len(records), 'live session')}"
        return Result(
            f"{title} (the most recently active; --limit {a.limit:,})\n\n{table}", document
        )
    return Result(table, document)
