"""The CLI's rate-limit commands: ``unlock`` (the login guard's locks) and ``limits show``.

They work on the store the app uses, through the same storage and algorithms as
``service.limits`` and ``service.login_guard``, on the wall clock (the app's default clock).
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable

from ..backend import SessionStoreBackend
from ..errors import SessionConfigError
from ..limits import RateLimiter, storage_for, unlock
from ..limits._checks import now_ms, wall_clock
from ..limits.storage import LimitParamsStorage
from . import output as out


async def delete_expired(backend: SessionStoreBackend) -> int:
    """Expired rate-limit and counter entries, deleted with the sessions (0 for a custom
    store without limits)."""
    try:
        storage = storage_for(backend.store)
    except SessionConfigError:
        return 0
    return await storage.delete_expired(now_ms(wall_clock))


def _address(value: str) -> str:
    """An IPv4 or IPv6 address, written as servers report a peer (``2001:db8::1``): the guard
    books the address the app passed, so a typo must not "unlock" nothing and say it did."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an IPv4 or IPv6 address (e.g. 203.0.113.7 or 2001:db8::1)"
        ) from None


def _username(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


_address.__name__ = "ip address"  # argparse names the type in its messages
_username.__name__ = "user name"


def unlock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user", metavar="U", type=_username, help="every lock of this user name (any case)"
    )
    parser.add_argument(
        "--ip", metavar="IP", type=_address, help="this address's lock and its pairs' locks"
    )


async def unlock_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    deleted = await unlock(storage_for(b.store), user=a.user, ip=a.ip)
    parts = [f"user {out.printable(a.user)}"] if a.user is not None else []
    parts += [f"ip {a.ip}"] if a.ip is not None else []
    who = " and ".join(parts)
    text = (
        f"unlocked {who} ({out.plural(deleted, 'failed-sign-in record')} cleared)"
        if deleted
        else f"nothing to unlock for {who}: the login guard holds no failed sign-ins for it"
    )
    return out.Result(
        text, {"unlocked": deleted > 0, "user": a.user, "ip": a.ip, "cleared": deleted}
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
    parser.add_argument("key", metavar="KEY", help="the key, exactly as the app passes it")
    parser.add_argument(
        "--limit",
        metavar="N",
        type=_positive(int),
        help="the app's limit for this key, in hits (with --window); default: the numbers "
        "the store kept from the key's latest allowed hit",
    )
    parser.add_argument(
        "--window",
        metavar="S",
        type=_positive(float),
        help="the app's window for this key, in seconds (with --limit)",
    )


async def show_command(
    b: SessionStoreBackend, a: argparse.Namespace, p: out.Progress
) -> out.Result:
    """With ``--limit``/``--window``, those numbers; without, the ones the store kept from
    the key's latest allowed hit (revision 0007 on SQL); neither: the logged hits alone."""
    storage = storage_for(b.store)
    limit, window, source = a.limit, a.window, "given"
    if limit is None or window is None:
        kept = await storage.params(a.key) if isinstance(storage, LimitParamsStorage) else None
        if kept is None:
            return await _logged(b, a.key, own=isinstance(storage, LimitParamsStorage))
        limit, window, source = kept.limit, kept.window_ms / 1000, "stored"
    r = await RateLimiter(storage).peek(a.key, limit=limit, window=window)
    text = (
        f"{out.printable(a.key)}: {'allowed' if r.allowed else 'limited'}, "
        f"{r.remaining:,} of {r.limit:,} left, retry after {r.retry_after:.3f} s, "
        f"full again in {r.reset_after:.3f} s"
    )
    if source == "stored":
        text += f" (limit {r.limit:,} per {window:g} s, as the app last passed them)"
    document = {
        "key": a.key,
        "allowed": r.allowed,
        "limit": r.limit,
        "window": window,
        "numbers": source,
        "remaining": r.remaining,
        "retry_after": r.retry_after,
        "reset_after": r.reset_after,
    }
    return out.Result(text, document)


async def _logged(b: SessionStoreBackend, key: str, *, own: bool) -> out.Result:
    """What the store holds without the app's numbers: the logged hit times. "allowed" and
    "remaining" are not guessed: the sentence says why the numbers are missing (hits logged
    before the store kept them, or a storage of your own that keeps none) and which flags
    give them."""
    log = await storage_for(b.store).log(key)
    now = now_ms(wall_clock)
    ago = None if not log else max(now - log[-1], 0) / 1000
    name = out.printable(key)
    if ago is None:
        text = f"{name}: no hits logged (an unused key, or its hits have all expired)"
    else:
        text = f"{name}: {out.plural(len(log), 'hit')} logged, the newest {ago:.3f} s ago"
        why = (
            "the store holds no limit or window for this key (hits logged by an older "
            "version, or a Redis Cluster, which keeps none)"
            if own
            else "this store keeps hit times, not the app's limit"
        )
        text += (
            f"; {why}: add --limit N --window S (the numbers the app passes) for allowed, "
            "remaining and retry-after (the next allowed hit records them)"
        )
    return out.Result(
        text,
        {"key": key, "logged_hits": len(log), "newest_hit_ago": ago, "limit": None},
    )
