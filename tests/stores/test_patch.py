"""``patch`` where only these stores can be checked: a SQLite row another program wrote,
and the JSON text of a key as the Redis script looks it up. The rules every store follows
for ``patch`` are in the store contract (``session_service.testing.patch``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id
from session_service.stores._codec import encode_data
from session_service.stores._delta import key_json
from session_service.testing.patch import HOSTILE_KEYS

from ..conftest import sql_engine


def _record(data: dict[str, Any], *, hours: int = 1) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=hours))


async def _data(backend: SessionStoreBackend, sid: str) -> dict[str, Any] | None:
    record = await backend.load(sid)
    return None if record is None else record.data


@pytest.mark.stores("sqlite")
@pytest.mark.parametrize("stored", ["{not json", "[1, 2]", '"text"'])
async def test_a_row_whose_data_is_not_an_object_is_patched_as_empty(
    backend: SessionStoreBackend, stored: str
) -> None:
    """A row this library did not write (an upgraded table) reads as empty; a patch then
    writes the changed keys into an empty object instead of failing."""
    record = _record({"a": 1})
    await backend.save(record)
    async with sql_engine(backend).begin() as conn:
        await conn.execute(text("UPDATE sessions SET data = :d WHERE id = :i"),
                           {"d": stored, "i": at_rest_id(record.id)})  # fmt: skip
    assert await backend.patch(record.id, {"b": 2}, ["a"])
    assert await _data(backend, record.id) == {"b": 2}


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_a_key_is_written_as_the_encoder_writes_it(key: str) -> None:
    """The Redis script finds stored keys by their JSON text: ``key_json`` must give exactly
    what the whole-session encoder writes (a codec change that breaks this fails here)."""
    assert encode_data({key: 1}) == "{" + key_json(key) + ":1}"
