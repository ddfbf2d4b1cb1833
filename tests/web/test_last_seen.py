"""``last_seen`` with device tracking on: written at most once per
``SESSION_LAST_SEEN_SECONDS``, folded into an expiry extension when one is due, and never
moving the expiry itself. The stored ``last_seen`` is moved back instead of waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from session_service import DefaultSessionService, SessionStoreBackend

from ..support.cookies import session_id_of
from ..support.webapp import CountingBackend, settings_for
from .test_devices import Client, build


@pytest.fixture
async def counting(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Client, CountingBackend]]:
    settings = settings_for(db_url, str(tmp_path), SESSION_TRACK_DEVICES="true")
    backend = CountingBackend(SessionStoreBackend.from_url(db_url))
    await backend.migrate()
    service = DefaultSessionService(backend, settings)
    transport = httpx.ASGITransport(app=build(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, backend
    finally:
        await service.close()


async def test_last_seen_costs_at_most_one_write_per_interval_and_never_moves_expiry(
    counting: tuple[Client, CountingBackend],
) -> None:
    client, backend = counting
    await client.post("/login?user=alice")
    sid = session_id_of(client)
    backend.calls.clear()
    for _ in range(5):
        assert (await client.get("/read")).text == "alice"
    assert backend.writes == 0  # created just now: last_seen is fresh

    # Five minutes later (the stored last_seen is moved back instead of waiting).
    record = await backend.store.load(sid)
    assert record is not None and record.last_seen is not None
    record.last_seen -= timedelta(seconds=301)
    await backend.store.save(record)
    expiry = record.expiry_date
    backend.calls.clear()
    for _ in range(5):
        await client.get("/read")
    assert backend.calls["seen"] == 1 and backend.writes == 1
    after = await backend.store.load(sid)
    assert after is not None and after.last_seen is not None
    assert after.expiry_date == expiry
    assert after.last_seen > record.last_seen + timedelta(seconds=300)


async def test_last_seen_rides_along_an_expiry_extension(
    counting: tuple[Client, CountingBackend],
) -> None:
    client, backend = counting
    await client.post("/login?user=alice")
    sid = session_id_of(client)
    record = await backend.store.load(sid)
    assert record is not None and record.last_seen is not None
    record.last_seen -= timedelta(hours=1)
    record.expiry_date -= timedelta(days=3)  # an extension is due
    await backend.store.save(record)
    backend.calls.clear()
    await client.get("/read")
    assert backend.calls["touch"] == 1 and backend.writes == 1
    after = await backend.store.load(sid)
    assert after is not None and after.last_seen is not None
    assert after.last_seen > record.last_seen + timedelta(minutes=59)
