"""The error for a session over ``SESSION_MAX_BYTES`` writes its sizes as a person reads them
(``20,013 bytes``, ``the limit of 10,000``), on every store kind, for a new session and for a
write that makes a stored one grow (Redis checks that one inside its script)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from session_service import SessionDataError, SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..support.webapp import settings_for

_SIZES = re.compile(r"the session is \d{1,3}(,\d{3})+ bytes as JSON, over the limit of 10,000 ")


async def test_the_size_error_has_thousands_separators(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_MAX_BYTES="10000")
    backend = SessionStoreBackend.from_settings(settings)
    await backend.migrate()
    try:
        expiry = utcnow() + timedelta(hours=1)
        big = SessionRecord(new_session_id(), {"blob": "x" * 20_000}, expiry)
        with pytest.raises(SessionDataError) as new:
            await backend.save(big)
        assert _SIZES.search(str(new.value)), str(new.value)

        small = SessionRecord(new_session_id(), {"n": 1}, expiry)
        await backend.save(small)
        with pytest.raises(SessionDataError) as grown:
            await backend.patch(small.id, {"blob": "x" * 20_000}, ())
        assert _SIZES.search(str(grown.value)), str(grown.value)
    finally:
        await backend.close()
