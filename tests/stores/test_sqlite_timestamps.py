"""SQLite keeps timestamps as naive-UTC text; the hot path's fast formatting and parsing of that
text must agree with the general path exactly (PostgreSQL has a native type: nothing to test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from session_service.records import utcnow
from session_service.stores.sql.sqlite.driver import SqliteHotPath


@pytest.fixture
def hot(tmp_path: Path) -> SqliteHotPath:
    return SqliteHotPath(str(tmp_path / "unused.sqlite"))


@pytest.mark.parametrize("microsecond", [0, 1, 643580, 999999])
def test_written_timestamps_read_back_unchanged(hot: SqliteHotPath, microsecond: int) -> None:
    value = datetime(2026, 11, 30, 1, 43, 37, microsecond, tzinfo=UTC)
    assert hot.parse_ts(hot.ts(value)) == value
    assert hot.parse_ts(hot.ts(value)).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 26 characters like ts() output, but with an offset: not read as UTC by mistake.
        ("2026-11-30 01:43:37.643+01", datetime(2026, 11, 30, 0, 43, 37, 643000, tzinfo=UTC)),
        ("2026-11-30T01:43:37+00:00", datetime(2026, 11, 30, 1, 43, 37, tzinfo=UTC)),
        ("2026-11-30 01:43:37", datetime(2026, 11, 30, 1, 43, 37, tzinfo=UTC)),
    ],
)
def test_other_spellings_in_old_rows_still_parse(
    hot: SqliteHotPath, text: str, expected: datetime
) -> None:
    assert hot.parse_ts(text) == expected


def test_now_is_written_like_any_timestamp(hot: SqliteHotPath) -> None:
    before = utcnow()
    now = hot.now_ts()
    after = utcnow()
    assert len(now) == len(hot.ts(before))
    # Text order is time order: the expiry comparison in SQL relies on it. (A few µs of slack:
    # now_ts truncates a float clock reading, utcnow rounds.)
    slack = timedelta(microseconds=5)
    assert hot.ts(before - slack) < now <= hot.ts(after + slack)
    assert hot.parse_ts(now).tzinfo is UTC


def test_a_foreign_offset_is_converted_on_write(hot: SqliteHotPath) -> None:
    plus_two = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert hot.ts(plus_two) == "2026-01-01 00:00:00.000000"
