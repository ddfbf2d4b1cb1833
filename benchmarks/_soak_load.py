"""Simulated users for the soak test: one shared asyncio httpx client, a cookie per user.

Each user's requests go round-robin across the app instances, so every request may land on a
different process than the one that wrote the session last: the cookie is shared, the state
lives only in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

COOKIE = "session_id"
USERS_PER_CLIENT = 25


class _NoJar(http.cookiejar.CookieJar):
    """The shared client must not keep cookies: each simulated user carries its own."""

    def extract_cookies(self, response: Any, request: urllib.request.Request) -> None:
        return None

    def add_cookie_header(self, request: urllib.request.Request) -> None:
        return None


def make_client(connections: int = 200, timeout: float = 30.0) -> httpx.AsyncClient:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so a
    # request never races the server closing its connection (a browser would retry it).
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )
    return httpx.AsyncClient(limits=limits, timeout=timeout, cookies=_NoJar())


@dataclass(frozen=True)
class WriteTally:
    """One user's writes, judged from what the client saw and what the store holds at the end.

    A write whose response never arrived (a client timeout, a dropped connection, a 5xx) may
    or may not have been applied: the client cannot know. So it is never counted as lost;
    only an *acknowledged* write missing from the stored counter is data loss.
    """

    #: Acknowledged (200, answering the new counter) but not in the stored counter.
    lost: int
    #: Applied by the server although the client got no acknowledgement: not a loss.
    applied_unacknowledged: int
    #: Stored beyond every write the client attempted: a write from nowhere.
    unexplained: int


def tally_writes(acked: int, unacked: int, highest_acked: int, stored: int) -> WriteTally:
    """Judge one user's counter (0 at login, +1 per applied write).

    ``acked`` writes were answered 200, the highest of them with ``highest_acked`` (the
    counter after it); ``unacked`` attempts got no such answer. Each acknowledgement says the
    counter reached its value, so a stored value below ``highest_acked`` or below ``acked``
    has lost acknowledged writes; what the stored value holds beyond the acknowledged writes
    that survived came from the unacknowledged attempts (at most ``unacked`` of them).
    """
    lost = max(0, acked - stored, highest_acked - stored)
    extra = stored - (acked - lost)
    applied = min(max(0, extra), unacked)
    return WriteTally(lost, applied, max(0, extra - unacked))


@dataclass
class Stats:
    """What the load did: request count, failures by kind, latencies, and the writes judged by
    :func:`tally_writes` (only ``lost_writes`` is data loss)."""

    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lost_writes: int = 0
    applied_unacknowledged_writes: int = 0
    unexplained_writes: int = 0
    users_done: int = 0
    users_failed: int = 0
    revoked_but_alive: int = 0

    def record(self, status: int | None, error: str | None, seconds: float) -> None:
        self.requests += 1
        self.latencies.append(seconds)
        if error is not None:
            self.errors[error] += 1
        else:
            self.statuses[str(status)] += 1

    @property
    def error_count(self) -> int:
        unexpected = sum(n for s, n in self.statuses.items() if not s.startswith("2"))
        return unexpected + sum(self.errors.values())

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class User:
    """One browser: a cookie, the increments the server acknowledged (and the highest value
    it answered), and the attempts it did not acknowledge."""

    def __init__(
        self,
        name: str,
        servers: list[str],
        client: httpx.AsyncClient,
        stats: Stats,
        on_response: Callable[[int | None], None] | None = None,
    ) -> None:
        self.name = name
        self.servers = servers
        self.client = client
        self.stats = stats
        self.on_response = on_response
        self.cookie: str | None = None
        self.acked = 0
        self.unacked = 0
        self.highest_acked = 0
        self._turn = hash(name) % len(servers)

    async def request(self, method: str, path: str) -> httpx.Response | None:
        url = self.servers[self._turn % len(self.servers)] + path
        self._turn += 1
        headers = {"cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, headers=headers)
        except httpx.HTTPError as exc:
            self.stats.record(None, type(exc).__name__, time.perf_counter() - started)
            if self.on_response is not None:
                self.on_response(None)
            return None
        self.stats.record(response.status_code, None, time.perf_counter() - started)
        if self.on_response is not None:
            self.on_response(response.status_code)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == COOKIE:
                value = rest.split(";", 1)[0]
                self.cookie = None if "Max-Age=0" in header or not value else value
        return response

    async def login(self) -> bool:
        response = await self.request("POST", f"/login?user={self.name}")
        ok = response is not None and response.status_code == 200 and self.cookie is not None
        if ok:
            self.acked = self.unacked = self.highest_acked = 0
        return ok

    async def incr(self) -> bool:
        """One write; ``True`` if the server acknowledged it."""
        response = await self.request("POST", "/incr")
        if response is not None and response.status_code == 200:
            self.acked += 1
            with contextlib.suppress(ValueError):
                self.highest_acked = max(self.highest_acked, int(response.text))
            return True
        self.unacked += 1
        return False

    async def counter(self) -> int | None:
        """The stored counter, or ``None`` if the request failed or the session is gone."""
        response = await self.request("GET", "/me")
        if response is None or response.status_code != 200:
            return None
        n = response.json().get("n")
        return n if isinstance(n, int) else None


async def user_journey(user: User, writes: int) -> None:
    """Log in, write ``writes`` times, read, log out; the writes are judged by
    :func:`tally_writes`."""
    stats = user.stats
    if not await user.login():
        stats.users_failed += 1
        return
    for _ in range(writes):
        await user.incr()
    stored = await user.counter()
    if stored is None:
        stats.users_failed += 1
    else:
        tally = tally_writes(user.acked, user.unacked, user.highest_acked, stored)
        stats.lost_writes += tally.lost
        stats.applied_unacknowledged_writes += tally.applied_unacknowledged
        stats.unexplained_writes += tally.unexplained
    response = await user.request("POST", "/logout")
    if response is not None and response.status_code == 200:
        after = await user.request("GET", "/me")
        if after is not None and after.status_code == 200 and after.json() != {}:
            stats.revoked_but_alive += 1
    stats.users_done += 1


async def run_users(
    servers: list[str], users: int, writes: int, ramp_seconds: float, prefix: str
) -> tuple[Stats, float]:
    """``users`` journeys, started evenly over ``ramp_seconds``; (stats, wall seconds)."""
    stats = Stats()
    started = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        # httpx's pool slows down with the number of requests queued on it, so a few users
        # share each client, with a connection for each of them.
        clients = [
            await stack.enter_async_context(make_client(USERS_PER_CLIENT))
            for _ in range(-(-users // USERS_PER_CLIENT))
        ]

        async def one(i: int) -> None:
            await asyncio.sleep(i * ramp_seconds / max(users, 1))
            client = clients[i // USERS_PER_CLIENT]
            await user_journey(User(f"{prefix}{i}", servers, client, stats), writes)

        await asyncio.gather(*(one(i) for i in range(users)))
    return stats, time.perf_counter() - started
