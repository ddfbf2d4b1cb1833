"""What a Redis failure is, in the store's one-line 503 message: a plain reason for what an
operator meets (a failover, a read-only replica, a timeout, a refused connection, a cluster
answering a single-node URL), else the error's own first line (never its class: issue 24)."""

from __future__ import annotations

import redis.exceptions as rx
from redis.asyncio.sentinel import MasterNotFoundError

from ..._words import in_words


def describe(exc: BaseException) -> str:
    if isinstance(exc, MasterNotFoundError):
        # redis-py appends " : <each Sentinel's error>" when some could not be asked.
        if " : " in str(exc):
            return "no Sentinel named a primary of that service (not every one could be reached)"
        return "the Sentinels know no primary of that service (unknown, or failing over?)"
    if isinstance(exc, rx.ReadOnlyError) or "previous master is now a" in str(exc):
        return "the server is a read-only replica (a failover in progress?)"
    if isinstance(exc, rx.AuthenticationError | rx.AuthorizationError):
        return "authentication failed"
    if isinstance(exc, rx.BusyLoadingError):
        return "the server is still loading its data"
    if isinstance(exc, rx.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, rx.ConnectionError | OSError):
        text = str(exc).lower()
        return "connection refused" if "refused" in text else "connection lost or refused"
    text = in_words(exc)
    if text.startswith(("MOVED", "ASK", "CROSSSLOT", "CLUSTERDOWN")):
        return "a Redis Cluster answered (name it with a redis+cluster:// URL)"
    return text
