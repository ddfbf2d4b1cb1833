"""``session_service.sessions.live``: the store's live sessions, counted at most once a
minute (of the service's clock) and reported from the cache in between; a collection never
waits on the store."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from session_service import DefaultSessionService, SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..support.webapp import settings_for
from ._reader import points, value


async def _add(backend: SessionStoreBackend) -> None:
    record = SessionRecord(new_session_id(), {"a": 1}, utcnow() + timedelta(hours=1))
    await backend.create(record)


async def test_the_live_gauge_is_read_at_most_once_a_minute(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path, store_kind: str
) -> None:
    now = [1000.0]
    reader = InMemoryMetricReader()
    service = DefaultSessionService(
        backend,
        settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="0"),
        clock=lambda: now[0],
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    await _add(backend)
    await _add(backend)
    async with service:
        assert service.metrics is not None and service.metrics.live is not None
        live = service.metrics.live
        assert "session_service.sessions.live" not in points(reader)  # asked, not known yet
        assert live.pending is not None
        await asyncio.wrap_future(live.pending)
        assert value(points(reader), "session_service.sessions.live") == 2
        await _add(backend)
        now[0] += 59
        assert value(points(reader), "session_service.sessions.live") == 2  # cached
        assert live.pending is None  # and the store was not asked
        now[0] += 1
        assert value(points(reader), "session_service.sessions.live") == 2  # asks again
        assert live.pending is not None
        await asyncio.wrap_future(live.pending)
        assert value(points(reader), "session_service.sessions.live") == 3
    now[0] += 60
    points(reader)
    assert live.pending is None  # closed: the store is not asked again
