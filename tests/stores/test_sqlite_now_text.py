"""``SqliteHotPath.now_ts`` formats the clock's microseconds itself (issue 27: the cheaper
``%06d``); it must write exactly the text the general ``ts()`` would for the truncated clock
reading, whatever the fraction, and follow the clock across seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from session_service.stores.sql.sqlite.driver import SqliteHotPath

_SECOND = 1_796_000_000  # 2026-11-30 ...


def _expected(clock: float) -> str:
    second = int(clock)
    micro = int((clock - second) * 1_000_000)  # truncated, never rounded up into the next second
    whole = datetime.fromtimestamp(second, UTC).replace(microsecond=micro)
    return whole.replace(tzinfo=None).isoformat(" ", "microseconds")


@pytest.mark.parametrize(
    "fraction", [0.0, 0.000001, 0.000009, 0.01, 0.1, 0.5, 0.643580, 0.999999, 0.9999996]
)
def test_now_text_is_the_truncated_clock_as_ts_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fraction: float
) -> None:
    hot = SqliteHotPath(str(tmp_path / "unused.sqlite"))
    clock = _SECOND + fraction
    monkeypatch.setattr(time, "time", lambda: clock)
    text = hot.now_ts()
    assert text == _expected(clock)
    assert len(text) == 26


def test_now_text_follows_the_clock_into_the_next_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hot = SqliteHotPath(str(tmp_path / "unused.sqlite"))
    readings = iter([_SECOND + 0.25, _SECOND + 0.75, _SECOND + 1.5, _SECOND + 61.000002])
    monkeypatch.setattr(time, "time", lambda: next(readings))
    texts = [hot.now_ts() for _ in range(4)]
    assert texts == [
        _expected(_SECOND + 0.25),
        _expected(_SECOND + 0.75),
        _expected(_SECOND + 1.5),
        _expected(_SECOND + 61.000002),
    ]
    assert texts == sorted(texts)
