"""The Redis store on a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``):
:class:`.store.RedisClusterSessionStore`, its key layout and scripts (:mod:`.scripts`)."""

from .store import RedisClusterSessionStore

__all__ = ["RedisClusterSessionStore"]
