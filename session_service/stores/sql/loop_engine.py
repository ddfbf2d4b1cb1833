"""The SQLAlchemy engine, usable from any event loop.

An asyncpg connection belongs to the event loop that opened it: used from another loop it fails,
and once that loop is closed it cannot even be closed. Scripts that call ``asyncio.run`` more
than once, and Starlette's ``TestClient`` without ``with`` (a fresh loop per request), change
loops between calls. So the engine's pool follows the running loop: when the loop changes, the
old pool is dropped without being touched (``dispose(close=False)``; the garbage collector
closes the sockets of a closed loop's connections) and the next call opens a connection on the
new loop.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import WRITE_OPTION


class LoopEngine:
    """An engine and its write-mode twin, with the pool of the running loop."""

    __slots__ = ("_engine", "_loop", "_writer")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._loop: asyncio.AbstractEventLoop | None = None

    def _follow_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in a coroutine: nothing will run on the pool now
            return
        if loop is not self._loop:
            if self._loop is not None:
                self._engine.sync_engine.dispose(close=False)
            self._loop = loop

    @property
    def engine(self) -> AsyncEngine:
        self._follow_loop()
        return self._engine

    @property
    def writer(self) -> AsyncEngine:
        """The engine whose transactions write (SQLite: ``BEGIN IMMEDIATE``)."""
        self._follow_loop()
        return self._writer
