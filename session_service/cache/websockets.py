"""Open websockets of a revoked session are closed (code 4401).

A websocket lives long after the request that opened it loaded its session, so without this
a signed-out user's socket would stay open. With the cache on, the middleware runs each
websocket through :func:`run_watched`:

* while the channel listens, a revocation naming the session (or ``*``, or the channel coming
  back after a loss, when what was missed is unknown) closes the socket within moments: the
  session is looked up in the store itself, and the socket is closed if it is gone;
* while the channel is down, each message the client sends first checks the store, so the
  socket closes at its next message;
* a message that arrives after a revocation was heard reaches the app only once that
  revocation's check is done.

Closing sends ``websocket.close`` with code 4401 and hands the app a ``websocket.disconnect``
with the same code at its next ``receive``; what the app sends after that is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .keys import EVERYTHING, revocation_key
from .store import CachedSessionStore

#: The close code of a socket whose session was revoked (a 4000-range, app-defined code:
#: the socket counterpart of 401).
REVOKED_CODE = 4401


async def run_watched(
    store: object, session_id: str | None, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run the websocket ``app``, closed when its session is revoked (see the module)."""
    if not isinstance(store, CachedSessionStore) or session_id is None:
        await app(scope, receive, send)
        return
    watch = _Watch(store, session_id, send)
    store.cache.on_revoke.append(watch.heard)
    try:
        await app(scope, watch.receive(receive), watch.send)
    finally:
        store.cache.on_revoke.remove(watch.heard)
        watch.stop()


class _Watch:
    def __init__(self, store: CachedSessionStore, session_id: str, send: Send) -> None:
        self.store = store
        self.session_id = session_id
        self.key = revocation_key(session_id)
        self._send = send
        self.closed = asyncio.get_running_loop().create_future()
        self._checks: set[asyncio.Task[None]] = set()

    def heard(self, keys: Iterable[str]) -> None:
        """A revocation (from the cache's channel): check the store if it may be ours."""
        if self.closed.done():
            return
        keys = list(keys)
        if self.key in keys or EVERYTHING in keys:
            task = asyncio.ensure_future(self._check())
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _check(self) -> None:
        """Close the socket unless its session still exists (read from the store itself)."""
        with contextlib.suppress(Exception):  # the store down: the next message checks again
            if await self.store.inner.load(self.session_id) is None:
                await self._close()

    async def _close(self) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send({"type": "websocket.close", "code": REVOKED_CODE})

    async def send(self, message: Message) -> None:
        if not self.closed.done():
            await self._send(message)

    def receive(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            if not self.closed.done():
                message = await self._first(receive)
                if message is not None:
                    if self._checks:  # a revocation was heard: its check comes first
                        await asyncio.gather(*self._checks, return_exceptions=True)
                    if message["type"] == "websocket.receive" and not self.listening():
                        await self._check()  # the channel is down: ask the store now
                    if not self.closed.done():
                        return message
            return {"type": "websocket.disconnect", "code": REVOKED_CODE}

        return watched

    def listening(self) -> bool:
        return self.store.channel.listening_here()

    async def _first(self, receive: Receive) -> Message | None:
        """The client's next message, or ``None`` once the socket was closed here."""
        incoming: asyncio.Future[Any] = asyncio.ensure_future(receive())
        await asyncio.wait({incoming, self.closed}, return_when=asyncio.FIRST_COMPLETED)
        if incoming.done():
            return dict(incoming.result())
        incoming.cancel()
        return None

    def stop(self) -> None:
        for task in self._checks:
            task.cancel()
