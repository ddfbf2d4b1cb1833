"""The CLI's rate-limit commands: ``unlock`` (the login guard's locks) and ``limits show``.

They work on the store the app uses, through the same storage and algorithms as
``service.limits`` and ``service.login_guard``, on the wall clock (the app's default clock).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..backend import SessionStoreBackend
from ..errors import SessionConfigError
from ..limits import RateLimiter, storage_for, unlock
from ..limits._checks import now_ms, wall_clock
from . import output as out


async def delete_expired(backend: SessionStoreBackend) -> int:
    """Expired rate-limit and counter entries, deleted with the sessions (0 for a custom
    store without limits)."""
    try:
        storage = storage_for(backend.store)
    except SessionConfigError:
        return 0
    return await storage.delete_expired(now_ms(wall_clock))


def unlock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="U", help="every lock of this user name (any case)")
    parser.add_argument("--ip", metavar="IP", help="this address's lock and its pairs' locks")


async def unlock_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    deleted = await unlock(storage_for(b.store), user=a.user, ip=a.ip)
    parts = [f"user {out.printable(a.user)}"] if a.user is not None else []
    parts += [f"ip {out.printable(a.ip)}"] if a.ip is not None else []
    return out.Result(
        f"unlocked {' and '.join(parts)} ({out.plural(deleted, 'log')} cleared)",
        {"unlocked": True, "user": a.user, "ip": a.ip, "cleared": deleted},
    )


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {value!r}") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
        return number

    return parse


def show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"], help="what to do (show: print the state)")
    parser.add_argument("key", metavar="KEY", help="the key, as the app passes it")
    parser.add_argument("--limit", metavar="N", type=_positive(int), required=True)
    parser.add_argument("--window", metavar="S", type=_positive(float), required=True)


async def show_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    r = await RateLimiter(storage_for(b.store)).peek(a.key, limit=a.limit, window=a.window)
    text = (
        f"{out.printable(a.key)}: {'allowed' if r.allowed else 'limited'}, "
        f"{r.remaining} of {r.limit} left, retry after {r.retry_after:.3f} s, "
        f"full again in {r.reset_after:.3f} s"
    )
    document = {
        "key": a.key,
        "allowed": r.allowed,
        "limit": r.limit,
        "remaining": r.remaining,
        "retry_after": r.retry_after,
        "reset_after": r.reset_after,
    }
    return out.Result(text, document)
