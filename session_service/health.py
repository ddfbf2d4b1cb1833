"""``HealthReport``: whether the store answers, for a readiness route, a monitor or the CLI.

One check for every store kind, written above the stores: it asks the store's own ``ping``
and bounds it. Bounded means bounded: the ping runs as a task of its own and the report is
made when the time is up, even if the driver swallows the cancellation and goes on waiting
(redis-py now and then does), so a readiness probe always gets its answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from .errors import SessionServiceError
from .stores.protocol import StoreLifecycle

#: Pings given up on but not finished yet: the loop holds tasks weakly, so they are kept here
#: until they end (a driver that swallowed the cancellation ends them when it next returns).
_abandoned: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class HealthReport:
    """What ``await service.health()`` found (``session-service health`` prints one).

    ``ok``: the store answered a ping within ``SESSION_DB_TIMEOUT_SECONDS``. ``store``: its
    kind (``sqlite``, ``postgres``, ``redis``, ``memory``, or a store of your own's).
    ``latency_ms``: how long the ping took (or until it was given up). ``detail``: one line
    for people: the masked URL when healthy, what went wrong when not. It never holds a
    password, a session id or a key: a driver's own error is named by its class only, as its
    text may quote the URL.
    """

    ok: bool
    store: str
    latency_ms: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping (what ``session-service health --json`` prints)."""
        return asdict(self)


def _forget(task: asyncio.Task[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: the loop does not log "exception never retrieved"


async def check(store: StoreLifecycle, seconds: float) -> HealthReport:
    """Ping ``store`` within ``seconds``. Never raises, but for the caller's own cancellation."""
    kind, where = str(store.kind), str(store.display_url)
    start = time.perf_counter()
    ping = asyncio.ensure_future(store.ping())
    try:
        await asyncio.wait([ping], timeout=seconds)
    finally:
        if not ping.done():  # given up (or the caller was cancelled): do not wait for it
            ping.cancel()
            _abandoned.add(ping)
            ping.add_done_callback(_forget)
    latency = round((time.perf_counter() - start) * 1000, 3)
    if not ping.done() or ping.cancelled():
        return HealthReport(False, kind, latency, f"{where} did not answer within {seconds:g} s")
    error = ping.exception()
    if error is None:
        return HealthReport(True, kind, latency, f"{where} answered")
    if isinstance(error, SessionServiceError):  # the stores' messages mask the URL already
        detail = " ".join(str(error).split())
    else:  # a driver's own error: its class only, as its text may hold the URL
        detail = f"{where} failed the ping: {type(error).__name__}"
    return HealthReport(False, kind, latency, detail)
