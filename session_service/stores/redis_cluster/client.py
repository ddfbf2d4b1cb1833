"""The redis-py cluster client of a ``redis+cluster://`` URL, with the store's rules.

* the same bounded wait as the single-node pool (:mod:`..redis.pool`): at most
  ``max_connections`` commands at once per store, a further one waits up to ``timeout``
  seconds for a turn, then fails (a 503 upstream);
* no retry: a command whose connection failed may have run (a script, a ``SET NX``), so the
  failure is the caller's 503 at once. redis-py still follows ``MOVED`` and ``ASK`` (the
  server refused the command without running it: a redirect, not a retry) and, after a
  connection error, learns the cluster's layout again before the next command, so a failover
  costs the commands in flight and needs no restart;
* a script the node does not have yet (a restarted or newly promoted node) is loaded on every
  primary, then run once: it had not run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import exceptions as rx
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ...settings import split_cluster_url

#: What a cluster command can fail with: the single-node store's failures, and the cluster
#: client's own (no slot covered, no node reachable), which are no ``RedisError``.
FAILURES = (rx.RedisError, OSError, TimeoutError, rx.RedisClusterException)


def describe(exc: BaseException) -> str | None:
    """What a failure of the cluster itself means to an operator, or ``None`` (the single-node
    wording fits)."""
    if isinstance(exc, rx.ClusterDownError | rx.SlotNotCoveredError):
        return "the cluster is down or a slot has no primary (a failover in progress?)"
    if isinstance(exc, rx.TryAgainError) or "TTL exhausted" in str(exc):
        return "a slot is moving between primaries (try again)"
    if isinstance(exc, rx.RedisClusterException):
        return "no node of the cluster answered"
    return None


#: Options of ``parse_url`` that name one node, which a cluster client gets from the seeds.
_PER_NODE = ("host", "port", "db", "connection_class", "path")


def cluster_client(url: str, options: Mapping[str, Any]) -> RedisCluster:
    """The cluster client of ``url`` (the store's options stripped of its own ones already).
    The userinfo and query apply to every node, as ``redis://`` would to its one server;
    ``rediss+cluster://`` is TLS to every node."""
    seeds = split_cluster_url(url)
    parts = urlsplit(url)
    tls = parts.scheme.lower() == "rediss+cluster"
    userinfo, at, _ = parts.netloc.rpartition("@")
    query = parse_qsl(parts.query, keep_blank_values=True)
    node: dict[str, Any] = dict(parse_url(urlunsplit((
        "rediss" if tls else "redis", f"{userinfo}{at}seed", "/0", urlencode(query), "",
    ))))  # fmt: skip
    for name in _PER_NODE:
        node.pop(name, None)
    merged = {**options, **node}
    merged.pop("timeout", None)  # the store's wait for a turn, not redis-py's
    if tls:
        merged["ssl"] = True
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        retry=Retry(NoBackoff(), 0),
        # A MOVED updates the one slot; the whole layout is read again after an error.
        reinitialize_steps=0,
        **merged,
    )


class Turns:
    """At most ``limit`` commands of one store at once; beyond that a command waits up to
    ``wait`` seconds for a turn (no timer armed while a turn is free), then fails with
    ``ConnectionError`` (a 503)."""

    def __init__(self, limit: int, wait: float) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._wait = wait

    async def __aenter__(self) -> None:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise rx.ConnectionError("No connection available.") from None
        else:
            await self._slots.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


async def run_script(
    client: RedisCluster, sha: str, source: str, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """``EVALSHA`` on the node of ``keys[0]``'s slot (every key of a script shares it); a
    node without the script gets it loaded on every primary, then it runs once."""
    try:
        return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
    except rx.NoScriptError:
        await client.execute_command("SCRIPT LOAD", source, target_nodes=RedisCluster.ALL_NODES)
        return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
