"""``RevocationChannel``: one subscriber connection per process (per event loop), kept healthy.

A channel subscribes, tells the cache it is listening, then pings every ``ping_every``
seconds; a ping that fails or takes longer than ``timeout``, or a connection the server
closes, marks the channel down (the cache stops serving hits and empties itself), and it
reconnects after a short, growing wait. What a subclass writes: how to connect and subscribe
(handing each message to :meth:`heard`), how to ping, how to wait for the connection's loss,
and how to close.

A channel belongs to the event loop that started it (connections do): a store used from a new
loop starts a new channel there, and until that one has subscribed the cache serves no hit.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .keys import EVERYTHING
from .local import LocalCache, describe

#: Pings: often enough that a silent loss is noticed well within a second or two.
DEFAULT_PING_SECONDS = 0.5
#: Waits between reconnect attempts: the first, and the most.
RETRY_FIRST, RETRY_MAX = 0.05, 2.0


class ChannelLost(Exception):
    """The subscriber connection is gone or did not answer (internal: it never leaves the
    channel's task, which turns it into the cache's one log line)."""


class RevocationChannel:
    """The base of the PostgreSQL and Redis channels (see the module docstring)."""

    #: Where the channel listens, safe to log (a masked URL).
    where: str = "the store"

    def __init__(
        self,
        cache: LocalCache,
        *,
        timeout: float,
        ping_every: float = DEFAULT_PING_SECONDS,
        retry_first: float = RETRY_FIRST,
    ) -> None:
        self.cache = cache
        self.timeout = timeout
        self.ping_every = ping_every
        self.retry_first = retry_first
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- what the cached store calls ---------------------------------------------------------

    def ensure_started(self) -> None:
        """Start listening on the running loop unless already doing so there."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._task is not None and not self._task.done():
            return
        # A channel of another (perhaps closed) loop hears nothing for this one.
        self.cache.listening = False
        self.cache.clear()
        self._loop = loop
        self._task = loop.create_task(self._run(), name="session-cache-channel")

    def listening_here(self) -> bool:
        """Hits may be served: subscribed and healthy, on the running loop."""
        return self.cache.listening and self._loop is asyncio.get_running_loop()

    async def stop(self) -> None:
        """Stop listening (the cache then serves no hit) and close the connection."""
        task, self._task = self._task, None
        self.cache.listening = False
        self.cache.clear()
        if task is None:
            return
        if task.get_loop() is not asyncio.get_running_loop():
            return  # a task of another loop: that loop is gone or will cancel it itself
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    # -- the channel's task --------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._subscribe()
                self.cache.channel_up(self.where)
                failures = 0
                await self._keep_alive()
            except asyncio.CancelledError:
                self.cache.listening = False  # stopped: nothing is heard any more
                self.cache.clear()
                await self._close_quietly()
                raise
            except Exception as exc:  # a lost channel of any kind: down, then retry
                self.cache.channel_down(self.where, describe(exc))
                await self._close_quietly()
                first = self.retry_first
                await asyncio.sleep(min(first * 2**failures, max(RETRY_MAX, first)))
                failures += 1

    async def _keep_alive(self) -> None:
        """Ping until a ping fails or the connection is lost (then raise)."""
        lost = asyncio.ensure_future(self._lost())
        try:
            while True:
                pinged = asyncio.ensure_future(self._ping_within())
                done, _ = await asyncio.wait({lost, pinged}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    pinged.cancel()
                    if not lost.cancelled():
                        lost.result()
                    raise ChannelLost("the connection was closed")
                pinged.result()
                done, _ = await asyncio.wait({lost}, timeout=self.ping_every)
                if done:
                    if not lost.cancelled():
                        lost.result()
                    raise ChannelLost("the connection was closed")
        finally:
            lost.cancel()

    async def _ping_within(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._ping()
        except TimeoutError:
            raise ChannelLost(f"no answer to a ping within {self.timeout:g}s") from None

    async def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await self._close()

    def heard(self, payload: str | bytes) -> None:
        """A message on the channel: space-separated keys, or ``"*"`` for every session."""
        text = payload.decode() if isinstance(payload, bytes) else payload
        keys = text.split()
        if keys:
            self.cache.revoke(keys if EVERYTHING not in keys else [EVERYTHING])

    # -- what each store's channel writes ------------------------------------------------

    async def _subscribe(self) -> None:
        raise NotImplementedError

    async def _ping(self) -> None:
        raise NotImplementedError

    async def _lost(self) -> Any:
        """Return (or raise) once the connection is gone; never while it is healthy."""
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError
