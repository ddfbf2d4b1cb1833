"""What the Redis store needs of its server, checked once per store before it is used.

* no Redis Cluster node (its layout is the cluster store's: ``redis+cluster://``);
* version 6.2 or newer (``SET … PXAT``, ``GETDEL``, ``ZADD GT``);
* ``maxmemory-policy noeviction``. Under any other policy a full server deletes keys of its
  own choosing: an evicted user or tenant index leaves sessions that sign-out-everywhere
  (``clear_sessions_for_user``), revoke-by-handle and the counts cannot find, while the
  session itself still loads, and nothing says so. With ``noeviction`` a full server refuses
  writes instead, which the store reports as unavailable (503), and nothing is lost silently.
  ``?allow_eviction=true`` on the URL accepts the risk (see the README).

The policy is read with ``CONFIG GET maxmemory-policy``, or from ``INFO memory`` where
``CONFIG`` is disabled or renamed (as on most managed services).
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as rx

from ...errors import SessionConfigError

#: Oldest server with every command the scripts use (``SET … PXAT``, ``GETDEL``, ``ZADD GT``).
MIN_VERSION = (6, 2)
#: The URL option that accepts a server that may evict keys.
ALLOW_EVICTION = "allow_eviction"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


async def _eviction_policy(client: Any) -> str | None:
    """The server's ``maxmemory-policy``, or ``None`` when neither ``CONFIG`` nor ``INFO``
    tells it."""
    try:
        reply = await client.config_get("maxmemory-policy")
    except rx.ResponseError:  # CONFIG disabled, renamed or not permitted
        reply = {}
    policy = next((_text(v) for k, v in reply.items() if _text(k) == "maxmemory-policy"), None)
    if policy is None:
        memory = await client.info("memory")
        policy = _text(memory.get("maxmemory_policy"))
    return policy


async def check_server(client: Any, display_url: str, *, allow_eviction: bool) -> None:
    """Raise :class:`SessionConfigError` unless the server suits the store (module docstring).
    Redis errors propagate for the caller to report as unavailable."""
    server = await client.info("server")
    cluster = await client.info("cluster")
    if str(cluster.get("cluster_enabled", "0")) == "1":
        raise SessionConfigError(
            f"{display_url} is a Redis Cluster node: name the cluster with a "
            "redis+cluster:// URL (its seed nodes), whose store keeps each user's keys in "
            "one slot; a redis:// URL is for a single primary (with replicas or Sentinel)"
        )
    version = str(server.get("redis_version", "0"))
    numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if numbers < MIN_VERSION:
        raise SessionConfigError(
            f"the Redis server at {display_url} is version {version}; the session "
            "store needs 6.2 or newer (SET … PXAT, GETDEL, ZADD GT)"
        )
    if allow_eviction:
        return
    policy = await _eviction_policy(client)
    if policy != "noeviction":
        found = f"has maxmemory-policy {policy}" if policy else "does not say its maxmemory-policy"
        raise SessionConfigError(
            f"the Redis server at {display_url} {found}: a full server would evict keys, "
            "and an evicted user or tenant index leaves sessions that signing a user out "
            "everywhere cannot find. Set maxmemory-policy to noeviction on the server (on a "
            "managed service, in its parameter settings), or add "
            f"?{ALLOW_EVICTION}=true to the URL to accept that risk"
        )
