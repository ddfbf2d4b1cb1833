"""Returning a hot-path connection to asyncpg's pool in place, when nothing is left to undo.

asyncpg's ``Pool.release`` runs the holder's release under ``asyncio.shield``: a task per
statement, and the request waits a turn of the event loop for it (benchmarks/ANALYSIS.md,
issue 27). For the hot path's connections, after a statement that succeeded, that release
awaits nothing: the pool's reset is the driver's no-op, the connection has no transaction, no
listeners and no cancellation in flight. Then the same steps run here, in order and without a
suspension point, so no cancellation can cut them short either (what the shield is for). Any
other state (closed, expired, cancelling, in a transaction, at ``max_queries``, or an asyncpg
whose pool lacks what is read here) goes through ``Pool.release`` as before.
"""

from __future__ import annotations

from typing import Any


def released_in_place(pool: Any, proxy: Any) -> bool:
    """``Pool.release(proxy)`` done synchronously if it would await nothing (``True``), else
    nothing done (``False``: the caller awaits ``Pool.release``)."""
    try:
        holder, con = proxy._holder, proxy._con
        if (
            con is None
            or holder._pool is not pool
            or holder._in_use is None
            or holder._proxy is not proxy
            or holder._inactive_callback is not None
            or pool._closing
            or con.is_closed()
            or holder._generation != pool._generation
            or con._protocol.queries_count >= holder._max_queries
            or con._protocol._is_cancelling()
            or con._protocol.is_in_transaction()
            or con._top_xact is not None
            or con._listeners
            or con._log_listeners
        ):
            return False
    except AttributeError:  # another asyncpg's internals: its own release
        return False
    # ``Pool.release`` and ``PoolConnectionHolder.release``, less what is a no-op here.
    con._on_release()
    holder._timeout = None
    holder._release()
    holder._setup_inactive_callback()
    return True
