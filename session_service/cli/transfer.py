"""``export``, ``import`` and ``copy``: backups, and moving live sessions between stores.

docs/operations.md ("Backups and moving stores") is the operator's guide; the rules (what
travels, what is skipped, why a second import changes nothing) are in
:mod:`session_service.stores._transfer`, the file's lines in :mod:`._lines`.

* ``export`` streams batch by batch, never the whole store in memory. The file is created
  0600 and never over an existing one (``O_EXCL``: a second backup does not silently replace
  the first, and a link planted at that name is not followed); without ``-o`` the lines go to
  stdout, which must not be a terminal. Either way stderr says it holds live credentials. A
  failed export removes its partial file.
* ``import FILE`` (``-``: stdin) reads a line at a time and writes in batches; it exits 1 if
  the file has no last line (cut short: what was read is imported, and a whole file can be
  imported over it).
* ``copy --to URL`` does both at once, with no file in between. The target must be migrated
  first, and cannot be ``memory://`` (that memory is another process's).

The counts at the end are exact: written, left as they were (the target already held them,
as new or newer), and skipped as expired meanwhile. No key, id or data is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from ..backend import SessionStoreBackend
from ..errors import SessionConfigError, SessionDataError
from ..settings import normalize_db_url
from ..stores._transfer import (
    NO_IMPORTS,
    ImportCounts,
    StoredSession,
    TransferStore,
)
from ..stores.protocol import DEFAULT_BATCH_SIZE
from . import _lines
from . import output as out
from ._command import Command, batch_size
from ._database import load_settings, open_backend

CREDENTIALS_WARNING = (
    "this export holds live credentials: anyone with it can sign in as any user in it. Keep "
    "it like a password (the file is 0600) and delete it once it has been imported"
)


def _transferable(backend: SessionStoreBackend) -> TransferStore:
    store = backend.store
    if not isinstance(store, TransferStore):
        raise SessionConfigError(
            f"the {backend.kind!r} store offers no export or import "
            "(see session_service.stores._transfer.TransferStore)"
        )
    return store


def _shared(parser: argparse.ArgumentParser, *, counters: bool) -> None:
    parser.add_argument(
        "--batch-size",
        metavar="N",
        type=batch_size,
        default=DEFAULT_BATCH_SIZE,
        help=f"sessions read and written per batch (default {DEFAULT_BATCH_SIZE})",
    )
    if counters:
        parser.add_argument(
            "--counters",
            action="store_true",
            help="also the live rate limits, login-guard records and counters",
        )


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here (created 0600; an existing file is never overwritten); "
        "default: stdout, when it is not a terminal",
    )
    _shared(parser, counters=True)


def import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an export file, or - for stdin")
    _shared(parser, counters=False)


def copy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to",
        metavar="URL",
        required=True,
        help="the target store (migrated first; not memory://); prefer a URL without a "
        "password on a shared machine",
    )
    _shared(parser, counters=True)


def check_copy_target(args: argparse.Namespace) -> None:
    """A usage error (exit 2) for a target no copy can reach, before anything is opened."""
    try:
        kind, _ = normalize_db_url(args.to)
    except SessionConfigError:
        return  # reported with the URL masked when the target is opened
    if kind == "memory":
        args.subparser.error(
            "--to memory:// names memory inside another process, which this command cannot "
            "reach: copy to SQLite, PostgreSQL or Redis"
        )


# -- writing -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[IO[bytes]]:
    if path is None or path == "-":
        if out._isatty(sys.stdout):
            raise SessionConfigError(
                "refusing to print live credentials to a terminal: pass -o FILE, or redirect "
                "stdout to a file or a pipe"
            )
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SessionConfigError(
            f"{path} exists already: an export never overwrites a file (remove it, or choose "
            "another name)"
        ) from None
    except OSError as exc:
        raise SessionConfigError(f"cannot create {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # whatever the umask left
    done = False
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
        done = True
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(path)


class _Totals:
    def __init__(self) -> None:
        self.sessions = self.limits = self.counters = 0


async def _write_export(
    store: TransferStore, stream: IO[bytes], a: argparse.Namespace, kind: str, p: out.Progress
) -> _Totals:
    totals = _Totals()
    stream.write(_lines.header(kind, a.counters))
    async for batch in store.export_sessions(tenant_id=a.tenant, batch_size=a.batch_size):
        stream.write(b"".join(_lines.session(row) for row in batch))
        totals.sessions += len(batch)
        p(totals.sessions)
    if a.counters:
        async for limits in store.export_limits(batch_size=a.batch_size):
            stream.write(b"".join(_lines.line({"type": "limit", **e._asdict()}) for e in limits))
            totals.limits += len(limits)
        async for counters in store.export_counters(batch_size=a.batch_size):
            stream.write(
                b"".join(_lines.line({"type": "counter", **e._asdict()}) for e in counters)
            )
            totals.counters += len(counters)
    stream.write(_lines.end(totals.sessions, totals.limits, totals.counters))
    return totals


async def export_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    store = _transferable(b)
    progress = out.Progress(sys.stderr, "exported")
    with _output(a.output) as stream:
        sys.stderr.write(f"session-service: {CREDENTIALS_WARNING}\n")
        totals = await _write_export(store, stream, a, b.kind, progress)
    progress.finish()
    where = a.output if a.output not in (None, "-") else "stdout"
    text = f"exported {out.plural(totals.sessions, 'live session')} to {where}"
    if a.counters:
        text += (
            f", with {out.plural(totals.limits, 'rate-limit log')} and "
            f"{out.plural(totals.counters, 'counter')}"
        )
    document = {
        "sessions": totals.sessions,
        "limits": totals.limits,
        "counters": totals.counters,
        "output": where,
    }
    return out.Result(text, document, to_stderr=where == "stdout")


# -- reading -----------------------------------------------------------------------------------


class _Imported:
    def __init__(self) -> None:
        self.by_kind: dict[str, ImportCounts] = {k: NO_IMPORTS for k in _KINDS}

    def document(self) -> dict[str, Any]:
        return {kind: counts._asdict() for kind, counts in self.by_kind.items()}

    def text(self, verb: str) -> str:
        s = self.by_kind["session"]
        text = (
            f"{verb} {out.plural(s.written, 'session')}; {s.unchanged:,} already there "
            f"(as new or newer), {s.expired:,} skipped as expired"
        )
        for kind, word in (("limit", "rate-limit log"), ("counter", "counter")):
            c = self.by_kind[kind]
            if any(c):
                text += (
                    f"; {out.plural(c.written, word)} written, {c.unchanged:,} already there, "
                    f"{c.expired:,} expired"
                )
        return text


_KINDS = ("session", "limit", "counter")


async def _import_batch(store: TransferStore, kind: str, batch: list[Any]) -> ImportCounts:
    if kind == "session":
        return await store.import_sessions(batch)
    if kind == "limit":
        return await store.import_limits(batch)
    return await store.import_counters(batch)


async def import_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    store = _transferable(b)
    progress = out.Progress(sys.stderr, "imported")
    done = _Imported()
    with _lines.opened(a.file) as stream:
        reading = _lines.Reading(stream, a.batch_size)
        read = 0
        async for kind, batch in reading.batches():
            done.by_kind[kind] = done.by_kind[kind] + await _import_batch(store, kind, batch)
            read += len(batch)
            progress(read)
    progress.finish()
    if reading.ended is None:
        raise SessionDataError(
            f"the export ends without its last line: it was cut short. {done.text('imported')} "
            "from what was there; import the whole file to finish (a second import changes "
            "nothing already imported)"
        )
    return out.Result(done.text("imported"), done.document())


# -- copying -----------------------------------------------------------------------------------


async def _copy_kind(
    batches: AsyncIterator[list[Any]], target: TransferStore, kind: str, done: _Imported
) -> int:
    moved = 0
    async for batch in batches:
        done.by_kind[kind] = done.by_kind[kind] + await _import_batch(target, kind, batch)
        moved += len(batch)
    return moved


async def copy_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    source = _transferable(b)
    target_backend = await open_backend(load_settings(a.to), create=False)
    try:
        if repr(target_backend.store) == repr(b.store):
            raise SessionConfigError("the source and the target are the same store")
        target = _transferable(target_backend)
        progress = out.Progress(sys.stderr, "copied")
        done = _Imported()
        copied = 0
        async for rows in source.export_sessions(tenant_id=a.tenant, batch_size=a.batch_size):
            batch: list[StoredSession] = rows
            done.by_kind["session"] = done.by_kind["session"] + await target.import_sessions(batch)
            copied += len(batch)
            progress(copied)
        if a.counters:
            await _copy_kind(source.export_limits(batch_size=a.batch_size), target, "limit", done)
            counters = source.export_counters(batch_size=a.batch_size)
            await _copy_kind(counters, target, "counter", done)
        progress.finish()
    finally:
        await target_backend.close()
    text = done.text("copied") + f" to {target_backend.store.display_url}"
    return out.Result(text, {**done.document(), "to": target_backend.store.display_url})


COMMANDS = (
    Command(
        "export",
        export_command,
        "write every live session (and with --counters every rate limit and counter) as "
        "JSON lines: a backup, or the first half of a move",
        "session-service export -o sessions.jsonl\n"
        "  session-service export --tenant acme --counters -o acme.jsonl",
        tenant=True,
        arguments=export_arguments,
    ),
    Command(
        "import",
        import_command,
        "write an export's live sessions into this store (idempotent: nobody signed out)",
        "session-service --db-url postgresql://app@db/app import sessions.jsonl\n"
        "  gunzip -c sessions.jsonl.gz | session-service import -",
        arguments=import_arguments,
    ),
    Command(
        "copy",
        copy_command,
        "copy every live session into another store, streaming (export and import at once)",
        "session-service copy --to postgresql://app@db/app\n"
        "  SESSION_DB_URL=postgresql://app@db/app session-service copy --to redis://cache/0",
        tenant=True,
        arguments=copy_arguments,
    ),
)
