"""``service.login_guard(...)``: failed-login lockout per (username, ip) pair and per ip.

Every attempt is booked *before* the password is checked, as a hit on the pair's log (limit
``max_failures``) and on the ip's log (limit ``ip_max_failures``), both over ``window``. An
attempt not followed by :meth:`LoginGuard.succeeded` therefore counts as a failure, and since
a hit is atomic, N parallel wrong passwords let at most ``max_failures`` reach the check (the
parallel-request hole of django-axes #592 cannot open).

Locks: a log holding ``max_failures`` times within ``window`` is locked until ``lockout``
seconds after the newest of them. When the lock is over, the first attempt starts the log
afresh with a compare-and-delete, so two attempts racing there cannot erase each other's
booking.

Guards of different ``name`` keep separate books (a short one-time-code guard never resets a
password guard's log); the ``"default"`` guard keeps the keys it always had, so its locks
survive an upgrade, and ``unlock`` clears the locks of every guard.

Keys hold hashes, never the username or the address, and nothing here logs either: an
outage logs one line without them and refuses the attempt (fail closed) with
``reason="unavailable"``, so an app can tell it from a lock.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import SessionDataError, SessionStoreUnavailable
from ._checks import MAX_KEY_LENGTH, Clock, check_count, check_seconds, now_ms, wall_clock
from .storage import LimitStorage

if TYPE_CHECKING:
    from ..metrics import SessionMetrics

logger = logging.getLogger("session_service")

#: What a refused attempt says to wait when the store is down (as the 503's Retry-After).
UNAVAILABLE_RETRY_SECONDS = 5.0
PAIR_PREFIX = "login:pair:"
IP_PREFIX = "login:ip:"
DEFAULT_NAME = "default"

#: Why an attempt was let through or not: a lock, or a store that could not be asked.
LoginReason = Literal["ok", "locked", "unavailable"]


@dataclass(frozen=True, slots=True)
class LoginDecision:
    """``reason``: ``"ok"`` (allowed), ``"locked"`` (too many failures: wait ``retry_after``)
    or ``"unavailable"`` (the store is down: the attempt is refused, nothing is known about
    a lock). Made without a reason, a refusal reads as ``"locked"``."""

    allowed: bool
    retry_after: float
    reason: LoginReason = "ok"

    def __post_init__(self) -> None:
        if not self.allowed and self.reason == "ok":
            object.__setattr__(self, "reason", "locked")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def user_part(username: str) -> str:
    """The hashed, case-insensitive (casefolded) username as it appears in pair keys."""
    return _digest("u\0" + username.casefold())


def ip_part(ip: str) -> str:
    return _digest("i\0" + ip)


def name_part(name: str) -> str:
    """``""`` for the default guard (its keys as they always were), else the hashed name and
    a colon, placed just before the ip's part so every ``unlock`` pattern still matches."""
    return "" if name == DEFAULT_NAME else _digest("n\0" + name) + ":"


def pair_key(username: str, ip: str, name: str = DEFAULT_NAME) -> str:
    return f"{PAIR_PREFIX}{user_part(username)}:{name_part(name)}{ip_part(ip)}"


def ip_key(ip: str, name: str = DEFAULT_NAME) -> str:
    return IP_PREFIX + name_part(name) + ip_part(ip)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_KEY_LENGTH:
        raise SessionDataError(
            f"a login guard name must be a str of 1 to {MAX_KEY_LENGTH} characters, "
            f'such as "otp" (not {type(name).__name__} {str(name)[:20]!r})'
        )
    return name


class LoginGuard:
    """See the module docstring; ``docs/limits.md`` ("Rate limits, failed logins and counters")
    shows it in use."""

    def __init__(
        self,
        storage: LimitStorage,
        *,
        max_failures: int = 5,
        window: float = 900,
        lockout: float = 900,
        ip_max_failures: int = 100,
        name: str = DEFAULT_NAME,
        clock: Clock = wall_clock,
        metrics: SessionMetrics | None = None,
    ) -> None:
        self.storage = storage
        #: Counts each refused attempt (``session_service.login_guard.refused``).
        self.metrics = metrics
        self.name = _check_name(name)
        self.max_failures = check_count("max_failures", max_failures)
        self.ip_max_failures = check_count("ip_max_failures", ip_max_failures)
        self.window_ms = check_seconds("window", window)
        self.lockout_ms = check_seconds("lockout", lockout)
        self.clock = clock

    def _lock_end(self, oldest: int | None, newest: int | None) -> int:
        """When the lock ends that a log shows by its ``limit``-th newest and newest times
        (0: no lock)."""
        if oldest is not None and newest is not None and newest - oldest < self.window_ms:
            return newest + self.lockout_ms
        return 0

    def _locked_until(self, log: list[int], limit: int) -> int:
        return self._lock_end(log[-limit] if len(log) >= limit else None, log[-1] if log else None)

    def _keys(self, username: str, ip: str) -> tuple[tuple[str, int], tuple[str, int]]:
        if not isinstance(username, str) or not isinstance(ip, str):
            raise SessionDataError("username and ip must be str")
        pair = pair_key(username, ip, self.name)
        return (pair, self.max_failures), (ip_key(ip, self.name), self.ip_max_failures)

    async def _book(self, key: str, limit: int, now: int) -> int:
        """Book one try on ``key``; 0 when booked, else when the lock ends."""
        storage = self.storage
        log = await storage.log(key)
        until = self._locked_until(log, limit)
        if until > now:
            return until
        if until:  # a lock that is over: start afresh, unless another attempt already did
            await storage.reset_if(key, log)
        allowed, w = await storage.hit(key, limit, self.window_ms, now)
        if allowed:
            return 0
        return max(self._lock_end(w.oldest, w.newest), now + 1)  # lost a race: locked now

    async def attempt(self, username: str, ip: str) -> LoginDecision:
        """Book a try before checking the password; refuse without checking when not allowed."""
        (pair, pair_limit), (ip_k, ip_limit) = self._keys(username, ip)
        try:
            now = now_ms(self.clock)
            until = await self._book(pair, pair_limit, now)
            if not until:
                until = await self._book(ip_k, ip_limit, now)
                if until:
                    await self.storage.take_back(pair)  # refused: this try did not happen
        except SessionStoreUnavailable as exc:
            logger.error("login guard refused an attempt: the store is unavailable: %s", exc)
            decision = LoginDecision(False, UNAVAILABLE_RETRY_SECONDS, "unavailable")
        else:
            decision = _decision(until, now)
        if not decision.allowed and self.metrics is not None:
            self.metrics.guard_refused += 1
        return decision

    async def succeeded(self, username: str, ip: str) -> None:
        """The password was right: clear the pair's failures and take back this try from the
        ip (its other failures stay)."""
        (pair, _), (ip_k, _) = self._keys(username, ip)
        await self.storage.reset(pair)
        await self.storage.take_back(ip_k)

    async def check(self, username: str, ip: str) -> LoginDecision:
        """Whether an attempt would be let through now, booking nothing."""
        keys = self._keys(username, ip)
        try:
            now = now_ms(self.clock)
            until = 0
            for key, limit in keys:
                until = max(until, self._locked_until(await self.storage.log(key), limit))
        except SessionStoreUnavailable as exc:
            logger.error("login guard check failed: the store is unavailable: %s", exc)
            return LoginDecision(False, UNAVAILABLE_RETRY_SECONDS, "unavailable")
        return _decision(until, now)


def _decision(until: int, now: int) -> LoginDecision:
    """Allowed when no lock runs past ``now``; else locked until ``until`` (ms)."""
    if until <= now:
        return LoginDecision(True, 0.0, "ok")
    return LoginDecision(False, (until - now) / 1000, "locked")


async def unlock(storage: LimitStorage, *, user: str | None = None, ip: str | None = None) -> int:
    """Clear the locks of every guard (whatever its name): every pair of ``user``, every pair
    from ``ip`` and the ip's own, or with both the one pair and the ip. Returns how many logs
    were deleted."""
    if user is None and ip is None:
        raise SessionDataError("unlock needs a user, an ip, or both")
    deleted = 0
    if user is not None and ip is not None:
        deleted += await storage.delete_matching(f"{PAIR_PREFIX}{user_part(user)}:", ip_part(ip))
    elif user is not None:
        deleted += await storage.delete_matching(f"{PAIR_PREFIX}{user_part(user)}:", "")
    else:
        assert ip is not None
        deleted += await storage.delete_matching(PAIR_PREFIX, ":" + ip_part(ip))
    if ip is not None:
        deleted += await storage.delete_matching(IP_PREFIX, ip_part(ip))
    return deleted
