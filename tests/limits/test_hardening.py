"""Limits, counters and the login guard at their edges: exact large totals, the largest
limits, guards of different names, and what a store outage gives (``fail_open``,
``LoginDecision.reason``), on every store kind where each applies."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from session_service import (
    DefaultSessionService,
    SessionStoreBackend,
    SessionStoreUnavailable,
)
from session_service.limits import CounterResult, LimitStorage, unlock

from ..support.limits import FakeClock, limit_storage
from ..support.webapp import settings_for

__all__ = ["limit_storage"]

MAX_INT = 2**63 - 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(
    backend: SessionStoreBackend, limit_storage: LimitStorage, clock: FakeClock
) -> DefaultSessionService:
    """A service on the conftest's migrated ``backend`` (``limit_storage`` is requested so
    that its teardown deletes Redis counters made without a ttl)."""
    return DefaultSessionService(backend, clock=clock)


# -- counters: exact totals up to 2**63 - 1 -----------------------------------------------


@pytest.mark.parametrize("start", [10**14 - 1, 10**14, 2**53 - 1, 2**53, 2**62])
async def test_counter_totals_past_ten_to_the_fourteen_are_exact(
    service: DefaultSessionService, start: int
) -> None:
    assert await service.counters.add("big", start) == CounterResult(True, start)
    assert await service.counters.add("big", 1) == CounterResult(True, start + 1)
    assert await service.counters.add("big", 2, cap=start + 3) == CounterResult(True, start + 3)
    assert await service.counters.get("big") == start + 3


async def test_a_cap_just_past_two_to_the_fifty_three_is_exact(
    service: DefaultSessionService,
) -> None:
    await service.counters.add("c", 2**53)
    assert await service.counters.add("c", 1) == CounterResult(True, 2**53 + 1)
    # 2**53 + 1 + 1 would pass the cap by one: refused, nothing written.
    assert await service.counters.add("c", 1, cap=2**53 + 1) == CounterResult(False, 2**53 + 1)
    assert await service.counters.add("c", 1, cap=2**53 + 2) == CounterResult(True, 2**53 + 2)
    assert await service.counters.get("c") == 2**53 + 2


async def test_a_total_past_two_to_the_sixty_three_is_refused_and_nothing_written(
    service: DefaultSessionService,
) -> None:
    assert (await service.counters.add("top", MAX_INT - 1)).value == MAX_INT - 1
    assert await service.counters.add("top", 1) == CounterResult(True, MAX_INT)
    assert await service.counters.add("top", 1) == CounterResult(False, MAX_INT)
    assert await service.counters.add("top", MAX_INT) == CounterResult(False, MAX_INT)
    assert await service.counters.get("top") == MAX_INT


# -- limits: the documented range up to 2**63 - 1 ------------------------------------------


@pytest.mark.parametrize("limit", [sys.maxsize, 2**53 + 1, 10**14])
async def test_the_largest_limits_count_hits(service: DefaultSessionService, limit: int) -> None:
    for n in range(1, 4):
        result = await service.limits.hit("huge", limit=limit, window=60)
        assert result.allowed and result.limit == limit and result.remaining == limit - n
    peeked = await service.limits.peek("huge", limit=limit, window=60)
    assert peeked.allowed and peeked.remaining == limit - 3


async def test_a_guard_with_the_largest_numbers_books_attempts(
    service: DefaultSessionService,
) -> None:
    guard = service.login_guard(max_failures=sys.maxsize, ip_max_failures=sys.maxsize)
    for _ in range(3):
        assert (await guard.attempt("alice", "192.0.2.1")).allowed


# -- guards of different names keep separate books -----------------------------------------


async def test_a_one_time_code_guard_never_lifts_the_password_guards_lock(
    service: DefaultSessionService, clock: FakeClock
) -> None:
    password = service.login_guard(max_failures=5, window=900, lockout=900)
    otp = service.login_guard(name="otp", max_failures=3, window=30, lockout=30)
    for _ in range(5):  # five wrong passwords
        assert (await password.attempt("alice", "192.0.2.1")).allowed
    locked = await password.attempt("alice", "192.0.2.1")
    assert not locked.allowed and locked.reason == "locked"

    clock.advance(31)  # past the one-time-code guard's lockout
    assert (await otp.attempt("alice", "192.0.2.1")).allowed
    still = await password.attempt("alice", "192.0.2.1")
    assert not still.allowed and still.reason == "locked"
    assert still.retry_after == pytest.approx(900 - 31)


async def test_failures_of_one_guard_do_not_count_against_another(
    service: DefaultSessionService,
) -> None:
    password = service.login_guard(max_failures=5)
    otp = service.login_guard(name="otp", max_failures=3)
    for _ in range(3):
        assert (await otp.attempt("bob", "192.0.2.2")).allowed
    assert (await otp.attempt("bob", "192.0.2.2")).reason == "locked"
    for _ in range(5):
        decision = await password.attempt("bob", "192.0.2.2")
        assert decision.allowed and decision.reason == "ok"
    assert (await password.check("bob", "192.0.2.2")).reason == "locked"
    # succeeded on one guard clears only that guard's book
    await password.succeeded("bob", "192.0.2.2")
    assert (await otp.check("bob", "192.0.2.2")).reason == "locked"


async def test_unlock_clears_the_locks_of_every_guard(
    service: DefaultSessionService, limit_storage: LimitStorage
) -> None:
    otp = service.login_guard(name="otp", max_failures=1, ip_max_failures=1)
    password = service.login_guard(max_failures=1, ip_max_failures=1)
    for guard in (otp, password):
        await guard.attempt("carol", "192.0.2.3")
        assert not (await guard.check("carol", "192.0.2.3")).allowed
    assert await unlock(limit_storage, user="carol", ip="192.0.2.3") == 4
    for guard in (otp, password):
        assert (await guard.check("carol", "192.0.2.3")).allowed


@pytest.mark.parametrize("name", ["", 7, "x" * 513])
async def test_a_bad_guard_name_is_a_clear_error(
    service: DefaultSessionService, name: object
) -> None:
    from session_service import SessionDataError

    with pytest.raises(SessionDataError, match="login guard name"):
        service.login_guard(name=name)  # type: ignore[arg-type]


# -- a store outage: fail_open, degraded, reason "unavailable" ------------------------------

SECRET_KEY_TEXT = "budget:customer-4711"


@contextlib.contextmanager
def _sqlite_write_locked(url: str) -> Iterator[None]:
    """Another process holds the file's write lock: every write waits, then fails."""
    path = make_url(url).database
    assert path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
async def down_service(
    store_kind: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[DefaultSessionService]:
    """A service whose store is down: PostgreSQL and Redis on a closed port, SQLite with its
    write lock held by another connection for longer than the store waits."""
    if store_kind == "postgres":
        url = "postgresql://nobody:pw@127.0.0.1:1/none"
    elif store_kind == "redis":
        url = "redis://:pw@127.0.0.1:1/0"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/down.sqlite"
    settings = settings_for(url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS="0.1")
    service = DefaultSessionService(url, settings, clock=clock)
    try:
        if store_kind == "sqlite":
            await service.migrate()
            with _sqlite_write_locked(url):
                yield service
        else:
            yield service
    finally:
        await service.close()


def _our_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "session_service"]


@pytest.mark.stores("sqlite", "postgres", "redis")
async def test_hit_with_fail_open_on_a_store_outage_allows_and_says_degraded(
    down_service: DefaultSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="session_service")
    result = await down_service.limits.hit(SECRET_KEY_TEXT, limit=5, window=60, fail_open=True)
    assert result.allowed and result.degraded and result.limit == 5
    assert result.retry_after == 0.0
    lines = _our_lines(caplog)
    assert len(lines) == 1
    assert "4711" not in lines[0] and ":pw@" not in lines[0]


@pytest.mark.stores("sqlite", "postgres", "redis")
async def test_hit_without_fail_open_on_a_store_outage_raises(
    down_service: DefaultSessionService,
) -> None:
    with pytest.raises(SessionStoreUnavailable):
        await down_service.limits.hit(SECRET_KEY_TEXT, limit=5, window=60)
    with pytest.raises(SessionStoreUnavailable):
        await down_service.counters.add(SECRET_KEY_TEXT, 1)


@pytest.mark.stores("sqlite", "postgres", "redis")
async def test_add_with_fail_open_on_a_store_outage_applies_nothing_and_says_degraded(
    down_service: DefaultSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="session_service")
    result = await down_service.counters.add(SECRET_KEY_TEXT, 250, cap=1000, fail_open=True)
    assert result == CounterResult(False, 0, degraded=True)
    lines = _our_lines(caplog)
    assert len(lines) == 1 and "4711" not in lines[0]


async def test_results_on_a_working_store_are_not_degraded(
    service: DefaultSessionService,
) -> None:
    hit = await service.limits.hit("k", limit=1, window=60, fail_open=True)
    assert hit.allowed and not hit.degraded
    refused = await service.limits.hit("k", limit=1, window=60, fail_open=True)
    assert not refused.allowed and not refused.degraded
    added = await service.counters.add("n", 3, cap=3, fail_open=True)
    assert added == CounterResult(True, 3) and not added.degraded
    assert not (await service.counters.add("n", 1, cap=3, fail_open=True)).degraded


@pytest.mark.stores("sqlite", "postgres", "redis")
async def test_bad_input_is_refused_even_with_fail_open(
    down_service: DefaultSessionService,
) -> None:
    from session_service import SessionDataError

    with pytest.raises(SessionDataError):
        await down_service.limits.hit("", limit=5, window=60, fail_open=True)
    with pytest.raises(SessionDataError):
        await down_service.counters.add("k", 0, fail_open=True)


@pytest.mark.stores("sqlite", "postgres", "redis")
async def test_a_guard_on_a_store_outage_says_unavailable_not_locked(
    down_service: DefaultSessionService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="session_service")
    guard = down_service.login_guard()
    decision = await guard.attempt("Mallory-Name", "203.0.113.77")
    assert not decision.allowed and decision.reason == "unavailable"
    assert decision.retry_after > 0
    lines = _our_lines(caplog)
    assert len(lines) == 1
    assert "mallory" not in lines[0].lower() and "203.0.113.77" not in lines[0]


# SQLite with its write lock held still reads (WAL): ``check`` books nothing, so it answers.
@pytest.mark.stores("postgres", "redis")
async def test_a_guard_check_on_an_unreachable_store_says_unavailable(
    down_service: DefaultSessionService,
) -> None:
    checked = await down_service.login_guard().check("Mallory-Name", "203.0.113.77")
    assert not checked.allowed and checked.reason == "unavailable"


async def test_a_guard_says_ok_and_locked(service: DefaultSessionService) -> None:
    guard = service.login_guard(max_failures=1)
    assert (await guard.attempt("dave", "192.0.2.4")).reason == "ok"
    assert (await guard.check("dave", "192.0.2.4")).reason == "locked"
    assert (await guard.attempt("dave", "192.0.2.4")).reason == "locked"
    await guard.succeeded("dave", "192.0.2.4")
    assert (await guard.check("dave", "192.0.2.4")).reason == "ok"


def test_a_decision_made_without_a_reason_reads_as_ok_or_locked() -> None:
    from session_service.limits import LoginDecision

    assert LoginDecision(True, 0.0).reason == "ok"
    assert LoginDecision(False, 5.0).reason == "locked"
    assert LoginDecision(False, 5.0, "unavailable").reason == "unavailable"
