"""Revocations from Redis: one ``SUBSCRIBE`` connection per process.

Every script that ends a session (delete, rotate's old id, clear by user or tenant, revoke by
handle, the ``SESSION_MAX_PER_USER`` evictions, a write whose expiry has passed) publishes
the ids it ended on :func:`channel_of` the store's prefix, in the same atomic step; a clear of
everything publishes ``*``. The expiry cleanup publishes nothing (an expired session is never
served from the cache). The health ping is a ``PING`` on the subscribed connection, answered
in order with the messages, so a lost or stalled connection reads as down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from .channel import ChannelLost, RevocationChannel
from .local import LocalCache


def channel_of(key_prefix: str) -> str:
    """The channel of a store's revocations: under its key prefix, so two stores sharing a
    server (two prefixes) never hear each other's."""
    return key_prefix + "revoked"


class RedisRevocations(RevocationChannel):
    """The Redis channel (see the module docstring)."""

    def __init__(
        self,
        cache: LocalCache,
        client: Callable[[], aioredis.Redis],
        key_prefix: str,
        where: str,
        *,
        timeout: float,
        **kw: Any,
    ) -> None:
        super().__init__(cache, timeout=timeout, **kw)
        self._client = client
        self.channel = channel_of(key_prefix)
        self.where = where
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pongs: list[asyncio.Future[None]] = []

    async def _subscribe(self) -> None:
        pubsub = self._client().pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(self.channel)
        while True:  # the confirmation: from here on, every publish reaches us
            message = await pubsub.get_message(timeout=self.timeout)
            if message is None:
                raise ChannelLost("no confirmation of the subscription")
            if message["type"] == "subscribe":
                break
        self._reader = asyncio.ensure_future(self._read(pubsub))

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                self.heard(message["data"])
            elif kind == "pong" and self._pongs:
                pong = self._pongs.pop(0)
                if not pong.done():
                    pong.set_result(None)

    async def _ping(self) -> None:
        pong = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        await self._pubsub.ping()
        await pong

    async def _lost(self) -> None:
        assert self._reader is not None
        await self._reader  # returns only by raising: the connection failed

    async def _close(self) -> None:
        reader, self._reader = self._reader, None
        pubsub, self._pubsub = self._pubsub, None
        for pong in self._pongs:
            pong.cancel()
        self._pongs.clear()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if pubsub is not None:
            await pubsub.aclose()
