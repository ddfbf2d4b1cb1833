"""``SessionMetrics``: the counts a service keeps, as plain integers, and the sampled timing
of store calls. No OpenTelemetry here: the instruments of :mod:`._otel` read these counts.

Nothing counted carries a session id, a cookie, a handle, a user, a tenant, an ip or a limit
key: the only attributes are the store's system name, the operation's name, an exception's
class name and a load's result (docs/operations.md, "Metrics").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from random import random
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..records import SessionRecord
    from .live import LiveSessions

T = TypeVar("T")

#: The ``result`` of ``session_service.sessions.loaded`` (``cache_hit`` is the read cache's).
LOAD_RESULTS = ("hit", "miss", "expired", "invalid", "cache_hit")

Record = Callable[[float, Mapping[str, str]], None]


def _no_record(seconds: float, attributes: Mapping[str, str]) -> None:
    """Until a histogram is registered, a timing goes nowhere."""


class SessionMetrics:
    """One service's counts. The hooks add to the integers directly (``metrics.saved += 1``);
    :meth:`timed` samples a store call's duration."""

    __slots__ = (
        "__weakref__",  # the instruments hold services weakly (a service may go away)
        "_attributes",
        "cache_hit",
        "cleaned",
        "created",
        "expired",
        "guard_refused",
        "hit",
        "invalid",
        "live",
        "miss",
        "rate_limited",
        "record",
        "revoked",
        "rotated",
        "sample",
        "saved",
        "system",
        "unavailable",
    )

    def __init__(self, system: str, sample: float) -> None:
        #: ``db.system.name`` of the store (``sqlite``, ``postgresql``, ``redis``, ``memory``).
        self.system = system
        #: The fraction of store calls timed (``SESSION_METRICS_SAMPLE``), 0 to 1.
        self.sample = sample
        #: ``histogram.record`` once registered (:mod:`._otel`).
        self.record: Record = _no_record
        #: The live-sessions gauge's state, once registered (the service gives it its loop).
        self.live: LiveSessions | None = None
        self._attributes: dict[str, dict[str, str]] = {}
        self.created = self.saved = self.rotated = self.revoked = self.cleaned = 0
        self.hit = self.miss = self.expired = self.invalid = self.cache_hit = 0
        self.unavailable = self.rate_limited = self.guard_refused = 0

    def start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The service started on ``loop`` (``None``: it closed): the live-sessions gauge
        counts there (or no more)."""
        if self.live is not None:
            self.live.loop = loop

    def loads(self) -> dict[str, int]:
        """The loads so far, by result."""
        return {result: getattr(self, result) for result in LOAD_RESULTS}

    def count_load(self, stored: SessionRecord | None, live: SessionRecord | None) -> None:
        """One load: ``hit``, ``miss`` (no such live session: unknown, signed out, or past
        its idle expiry, which the stores do not tell apart) or ``expired`` (found past its
        absolute deadline)."""
        if live is not None:
            self.hit += 1
        elif stored is None:
            self.miss += 1
        else:
            self.expired += 1

    def timed(self, operation: str, call: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        """``call`` itself, or (for a sample of calls) a coroutine that awaits it and records
        its duration as ``operation``: a call not drawn costs a ``random()``, no coroutine."""
        if self.sample < 1.0 and random() >= self.sample:
            return call
        return self._time(operation, call)

    async def _time(self, operation: str, call: Coroutine[Any, Any, T]) -> T:
        start = time.perf_counter()
        try:
            result = await call
        except BaseException as exc:
            self._failed(operation, exc, time.perf_counter() - start)
            raise
        self.record(time.perf_counter() - start, self._of(operation))
        return result

    def _of(self, operation: str) -> dict[str, str]:
        attributes = self._attributes.get(operation)
        if attributes is None:
            attributes = {"db.system.name": self.system, "db.operation.name": operation}
            self._attributes[operation] = attributes
        return attributes

    def _failed(self, operation: str, exc: BaseException, seconds: float) -> None:
        # ``error.type``: the class's name, never its message (a driver's text may quote a
        # URL or a key).
        self.record(seconds, {**self._of(operation), "error.type": type(exc).__qualname__})

    def __repr__(self) -> str:
        return f"SessionMetrics({self.system!r}, sample={self.sample:g})"
