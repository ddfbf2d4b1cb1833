"""``session-service``: the operator's command line for the session database.

The database comes from the environment exactly as the app reads it
(:meth:`SessionSettings.from_env`), so the CLI and the app always agree on where sessions
live; ``--db-url`` only overrides ``SESSION_DB_URL`` in the mapping handed to ``from_env``, so
the URL is validated in one place.

Contract for scripts and cron:

* exit 0 on success; 1 on a runtime failure (database down, bad configuration), with one line
  on stderr, the password masked and no traceback (``--debug`` adds it); 2 on a usage error,
  including ``clear-all`` without ``--yes``; 130 on Ctrl-C.
* ``--json`` writes one JSON document to stdout; without it, stdout is for people.
* ``health`` reports a store that is down on stdout, like a healthy one, and exits 1.
* the batched deletes (``cleanup-expired``, ``clear-all``) show a running count on stderr only
  when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..errors import SessionServiceError
from ..settings import SessionSettings
from ..stores.protocol import DEFAULT_BATCH_SIZE
from . import encryption as encryption_command
from . import grace as grace_command
from . import health as health_command
from . import limits as limit_commands
from . import output as out
from . import sessions as cmd
from . import transfer
from ._command import Command as _Command
from ._command import batch_size as _batch_size
from ._command import misplaced_user_hint as _misplaced_user_hint
from ._database import PROG, load_settings, open_backend

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


_Result = out.Result


# -- the parser -----------------------------------------------------------------------------


def _text(what: str) -> Callable[[str], str]:
    """An argparse type that refuses an empty value (usually an unset shell variable)."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def _revoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "handle",
        metavar="HANDLE",
        type=_text("HANDLE"),
        help="the session's handle, as list-user shows it (never its id); one that starts "
        "with '-' (made by an older version) goes after '--': revoke alice -- -Xq3k9f",
    )


def _dump_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        metavar="N",
        type=_batch_size,
        help="show only the N most recently active sessions (default: all)",
    )


_COMMANDS = (
    _Command(
        "migrate",
        cmd.migrate,
        "create or upgrade the sessions table (idempotent)",
        "session-service migrate\n  session-service --db-url postgresql://app@db/app migrate",
        creates_database=True,
    ),
    _Command(
        "clear-user",
        cmd.clear_user,
        "sign a user out everywhere (delete their sessions)",
        "session-service clear-user alice\n  session-service clear-user alice --tenant acme",
        user=True,
        tenant=True,
    ),
    _Command(
        "clear-all",
        cmd.clear_all,
        "delete every session (of one tenant); needs --yes",
        "session-service clear-all --yes --tenant acme\n  session-service clear-all --yes",
        tenant=True,
        batched=True,
    ),
    _Command(
        "count-user",
        cmd.count_user,
        "count a user's live sessions",
        "session-service count-user alice\n  session-service count-user 42 --json",
        user=True,
        tenant=True,
    ),
    _Command(
        "list-user",
        cmd.list_user,
        "list a user's live sessions: handle, device, ip, created, last seen, expiry",
        "session-service list-user alice\n  session-service list-user alice --json",
        user=True,
        tenant=True,
    ),
    _Command(
        "revoke",
        cmd.revoke,
        "sign out one session of a user, by the handle list-user shows",
        "session-service revoke alice Xq3k9f0aB2cD1eFg\n"
        "  session-service revoke alice Xq3k9f0aB2cD1eFg --tenant acme",
        user=True,
        tenant=True,
        arguments=_revoke_arguments,
    ),
    _Command(
        "cleanup-expired",
        cmd.cleanup,
        "delete expired sessions in batches (for cron)",
        "session-service cleanup-expired\n  session-service cleanup-expired --batch-size 1000",
        batched=True,
    ),
    _Command(
        "reencrypt",
        encryption_command.reencrypt,
        "rewrite every session under the first key of SESSION_ENCRYPTION_KEYS (resumable)",
        "session-service reencrypt\n  session-service reencrypt --batch-size 500 --json",
        batched=True,
        verb="checked",
    ),
    _Command(
        "health",
        None,
        "does the store answer? exit 0 healthy, 1 not (within SESSION_DB_TIMEOUT_SECONDS)",
        "session-service health\n  session-service health --json",
    ),
    _Command(
        grace_command.NAME,
        grace_command.caches_upgraded,
        "PostgreSQL: every instance runs this release; notify revocations only while a read "
        "cache listens (ends revision 0010's upgrade grace; idempotent)",
        f"session-service {grace_command.NAME}\n  session-service {grace_command.NAME} --json",
    ),
    _Command(
        "stats",
        cmd.stats,
        "totals: all, live, expired, distinct users, per tenant",
        "session-service stats\n  session-service stats --json",
    ),
    _Command(
        "dump",
        cmd.dump,
        "show every live session, for debugging (--json adds the data)",
        "session-service dump --tenant acme --limit 20\n"
        "  session-service dump --json | jq '.[].data'",
        tenant=True,
        arguments=_dump_arguments,
    ),
    _Command(
        "unlock",
        limit_commands.unlock_command,
        "clear the login guard's locks of a user and/or an ip (at least one)",
        "session-service unlock --user alice\n  session-service unlock --ip 203.0.113.7",
        arguments=limit_commands.unlock_arguments,
    ),
    _Command(
        "limits",
        limit_commands.show_command,
        "show a rate limit's state: limits show KEY [--limit N --window S]",
        "session-service limits show api:alice\n"
        "  session-service limits show api:alice --limit 60 --window 60 --json",
        arguments=limit_commands.show_arguments,
    ),
    *transfer.COMMANDS,
)

_MAIN_EPILOG = f"""\
The database is the app's: SESSION_DB_URL, else the SQLite file in SESSION_DATA_DIR
(default ./.session-data). --db-url overrides SESSION_DB_URL; prefer the variable for URLs
with a password, since command lines are visible to other users of the machine.

exit codes: {EXIT_OK} success, {EXIT_FAILURE} runtime failure (one line on stderr), \
{EXIT_USAGE} usage error, {EXIT_INTERRUPTED} interrupted

examples:
  session-service clear-user alice
  SESSION_DB_URL=postgresql://app@db/app session-service stats --json
"""


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--db-url",
        metavar="URL",
        type=_text("--db-url"),
        default=default,
        help="database URL (overrides SESSION_DB_URL)",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default, help="on failure, also print the traceback"
    )
    parser.add_argument(
        "--json", action="store_true", default=default, help="print one JSON document"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so tests and docs can inspect every command's help)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Administer the session database: sign users out, clean up, inspect.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, None)
    # The global options are accepted after the command too; SUPPRESS keeps the subcommand
    # from overwriting a value given before it.
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for spec in _COMMANDS:
        sub = commands.add_parser(
            spec.name,
            parents=[shared],
            help=spec.summary,
            description=spec.summary[:1].upper() + spec.summary[1:] + ".",
            epilog=f"examples:\n  {spec.example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if spec.user:
            sub.add_argument(
                "user_id",
                metavar="USER_ID",
                type=_text("USER_ID"),
                help="as in session['user_id'] (write -- before an id that starts with -)",
            )
        if spec.tenant:
            sub.add_argument(
                "--tenant",
                metavar="T",
                type=_text("--tenant"),
                help="only this tenant (default: every tenant)",
            )
        if spec.batched:
            sub.add_argument(
                "--batch-size",
                metavar="N",
                type=_batch_size,
                default=DEFAULT_BATCH_SIZE,
                help=f"rows per batch (default {DEFAULT_BATCH_SIZE})",
            )
        if spec.arguments is not None:
            spec.arguments(sub)
        if spec.name == "clear-all":
            sub.add_argument(
                "--yes",
                action="store_true",
                help="confirm: this signs everyone (in the tenant) out",
            )
        sub.set_defaults(spec=spec, subparser=sub)
    return parser


# -- running --------------------------------------------------------------------------------


async def _run(
    args: argparse.Namespace, settings: SessionSettings, progress: out.Progress
) -> _Result:
    spec: _Command = args.spec
    if spec.handler is None:  # `health`: a store that is down is its answer, not a failure
        found = await health_command.report(settings)
        return health_command.result(found)
    backend = await open_backend(settings, create=spec.creates_database)
    try:
        return await spec.handler(backend, args, progress)
    finally:
        await backend.close()


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    sys.stderr.write(f"{PROG}: {one_line}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script passes it to ``sys.exit``)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            # A user id in a locale that cannot encode it must not crash the output.
            stream.reconfigure(errors="backslashreplace")
    if threading.current_thread() is threading.main_thread():
        # Started with SIGINT ignored (nohup, some CI runners), Ctrl-C would not stop a
        # command stuck on a lock: take the default back, so it always exits 130.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        # Typed alone: the command list, not argparse's bare "COMMAND is required".
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args, extras = parser.parse_known_args(argv)
    if extras:
        hint = _misplaced_user_hint(PROG, args, extras)
        if hint is None:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.subparser.error(f"unrecognized arguments: {' '.join(extras)}; {hint}")
    if args.spec.name == "clear-all" and not args.yes:
        scope = "" if args.tenant is None else f" in tenant {out.printable(args.tenant)}"
        args.subparser.error(f"clear-all deletes every session{scope}; pass --yes to confirm")
    if args.spec.name == "unlock" and args.user is None and args.ip is None:
        args.subparser.error("unlock needs --user, --ip, or both")
    if args.spec.name == "limits" and (args.limit is None) != (args.window is None):
        args.subparser.error("--limit and --window go together (the numbers the app passes)")
    if args.spec.name == "copy":
        transfer.check_copy_target(args)
    progress = out.Progress(sys.stderr, args.spec.verb)
    try:
        settings = load_settings(args.db_url)
        if settings.store_kind == "memory":
            _fail(
                "memory:// sessions live inside the app's own process; this command runs in "
                "another process and cannot see them (use the app's admin methods instead)"
            )
            return EXIT_USAGE
        result = asyncio.run(_run(args, settings, progress))
    except KeyboardInterrupt:
        progress.finish()
        # Each batch is its own transaction: say how much is gone for good.
        done = f" after deleting {out.plural(progress.count, 'session')}" if progress.count else ""
        if args.spec.verb != "deleted":  # reencrypt: every session is done or not; go on later
            _fail(f"interrupted; run `{PROG} {args.spec.name}` again to finish")
        else:
            _fail(f"interrupted{done}; what was deleted stays deleted" if done else "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        progress.finish()
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, SessionServiceError):
            _fail(str(exc))
        else:  # a bug, not an operating condition: say so and how to see more
            # The exception's own words, never its class name (that is for --debug).
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
            hint = "" if args.debug else " (run with --debug for the traceback)"
            _fail(f"unexpected error: {reason}{hint}")
        return EXIT_FAILURE
    progress.finish()
    stream = sys.stderr if result.to_stderr else sys.stdout
    try:
        if args.json:
            out.write_json(stream, result.document)
        else:
            stream.write(result.text + "\n")
        stream.flush()
    except BrokenPipeError:
        # `session-service dump | head`: the reader left. Silence the interpreter's own
        # complaint at exit, as the Python docs recommend for SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_FAILURE if result.failed else EXIT_OK
