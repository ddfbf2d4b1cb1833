"""The store contract (``session_service.testing``) on a real Redis Cluster of 3 primaries and
3 replicas (the ``redis_cluster`` fixture), as the other four store kinds run it in
tests/stores/test_contract.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_service import SessionStoreBackend
from session_service.stores.redis_cluster import RedisClusterSessionStore

from ..support.lifetime import age_redis_session
from .test_contract import _ProjectStore


@pytest.mark.stores("redis_cluster")
class TestRedisClusterStore(_ProjectStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        assert isinstance(backend.store, RedisClusterSessionStore)
        await age_redis_session(backend.store, session_id, by)
