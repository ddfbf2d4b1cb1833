"""Metrics with the read cache on (``SESSION_CACHE=local``): the store behind the cache still
times its calls under its own ``db.system.name``, and a load the cache answers counts as
``session_service.sessions.loaded{result="cache_hit"}`` (docs/operations.md, "Metrics")."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from session_service import DefaultSessionService
from session_service.cache import CachedSessionStore
from session_service.records import SessionRecord, new_session_id, utcnow

from ._reader import durations, points, value

pytestmark = pytest.mark.stores("postgres", "redis")
SYSTEMS = {"postgres": "postgresql", "redis": "redis"}


async def test_cache_hits_and_the_stores_own_calls_are_counted(
    db_url: str, tmp_path: Path, store_kind: str
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from ..support.webapp import settings_for

    reader = InMemoryMetricReader()
    settings = settings_for(
        db_url, str(tmp_path), SESSION_CACHE="local", SESSION_METRICS_SAMPLE="1"
    )
    service = DefaultSessionService(
        db_url, settings, meter_provider=MeterProvider(metric_readers=[reader])
    )
    store = service.get_session_store().store
    assert isinstance(store, CachedSessionStore)
    await store.migrate()
    try:
        async with asyncio.timeout(10):
            await store.wait_listening()
        made = await store.create(
            SessionRecord(new_session_id(), {"n": 1}, utcnow() + timedelta(hours=1))
        )
        store.cache.clear()
        assert await store.load(made.id) is not None  # from the store, then cached
        assert await store.load(made.id) is not None  # from the cache
        found = points(reader)
        assert value(found, "session_service.sessions.loaded", result="hit") == 1
        assert value(found, "session_service.sessions.loaded", result="cache_hit") == 1
        [load] = durations(found, "load")
        assert (
            load.count == 1 and dict(load.attributes or {})["db.system.name"] == SYSTEMS[store_kind]
        )
    finally:
        await service.close()
