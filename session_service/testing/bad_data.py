"""Data that cannot be stored is refused before anything is written, with a
``SessionDataError`` that names the offending key: values JSON cannot hold, non-string keys,
naive datetimes, and sessions over ``SESSION_MAX_BYTES`` (counted in UTF-8 bytes)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ..backend import SessionStoreBackend
from ..errors import SessionDataError
from ..records import SessionRecord, new_session_id
from ._harness import ContractCase
from ._records import new_record

NOT_JSON: list[object] = [
    {1, 2},
    datetime(2024, 1, 1, tzinfo=UTC),
    date(2024, 1, 1),
    Decimal("1.5"),
    b"bytes",
    object(),
    {"nested": [1, {2, 3}]},
]


class BadDataRules(ContractCase):
    """A refused write changes nothing: not the session, not the user index."""

    async def test_non_json_value_is_refused_naming_the_key(
        self, backend: SessionStoreBackend
    ) -> None:
        for value in NOT_JSON:
            record = new_record({"fine": 1, "the_bad_key": value})
            with pytest.raises(SessionDataError, match="the_bad_key"):
                await backend.save(record)
            with pytest.raises(SessionDataError, match="the_bad_key"):
                await backend.create(new_record({"the_bad_key": value}))
            assert await backend.load(record.id) is None
        assert (await backend.stats()).total == 0

    async def test_nan_and_infinity_are_refused(self, backend: SessionStoreBackend) -> None:
        for value in (math.nan, math.inf, -math.inf):
            record = new_record({"score": value})
            with pytest.raises(SessionDataError, match="score"):
                await backend.save(record)
            with pytest.raises(SessionDataError, match="deep"):
                await backend.save(new_record({"deep": {"list": [1.0, value]}, "score": 1}))
        assert (await backend.stats()).total == 0

    async def test_non_string_keys_are_refused(self, backend: SessionStoreBackend) -> None:
        with pytest.raises(SessionDataError, match="keys must be strings"):
            await backend.save(new_record({1: "one"}))  # type: ignore[dict-item]
        assert (await backend.stats()).total == 0

    async def test_refused_data_leaves_the_stored_session_unchanged(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice", "n": 1})
        await backend.save(record)
        record.data = {"user_id": "bob", "when": datetime.now(UTC)}
        with pytest.raises(SessionDataError, match="when"):
            await backend.save(record)
        with pytest.raises(SessionDataError, match="when"):
            await backend.update(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.data == {"user_id": "alice", "n": 1}
        assert await backend.count_sessions_for_user("alice") == 1
        assert await backend.count_sessions_for_user("bob") == 0

    async def test_naive_expiry_is_a_data_error_not_an_outage(
        self, backend: SessionStoreBackend
    ) -> None:
        record = SessionRecord(id=new_session_id(), data={}, expiry_date=datetime(2099, 1, 1))
        with pytest.raises(SessionDataError, match="timezone-aware"):
            await backend.save(record)
        with pytest.raises(SessionDataError, match="timezone-aware"):
            await backend.touch(record.id, datetime(2099, 1, 1))
        assert (await backend.stats()).total == 0

    async def test_session_over_max_bytes_is_refused_and_nothing_written(
        self, backend: SessionStoreBackend
    ) -> None:
        backend.max_bytes = 1024  # as the service sets it from SESSION_MAX_BYTES
        small = new_record({"note": "x" * 100})
        await backend.save(small)
        big = new_record({"note": "x" * 2000})
        # The limit named in the message, written 1,024 (the built-in stores) or 1024.
        with pytest.raises(SessionDataError, match=r"1,?024"):
            await backend.save(big)
        with pytest.raises(SessionDataError, match=r"1,?024"):
            await backend.create(new_record({"note": "x" * 2000}))
        small.data["note"] = "y" * 2000
        with pytest.raises(SessionDataError, match=r"1,?024"):
            await backend.update(small)
        assert (await backend.stats()).total == 1
        loaded = await backend.load(small.id)
        assert loaded is not None
        assert loaded.data == {"note": "x" * 100}

    async def test_max_bytes_counts_utf8_bytes_not_characters(
        self, backend: SessionStoreBackend
    ) -> None:
        backend.max_bytes = 1024
        with pytest.raises(SessionDataError):
            await backend.save(new_record({"n": "€" * 400}))  # 400 characters, 1200 bytes
        fits = new_record({"n": "e" * 400})
        await backend.save(fits)
        assert await backend.load(fits.id) is not None
