"""The login guard on every storage: booked before the password check, pair and ip lockouts,
parallel wrong passwords, succeeded, case-insensitive names, unlock, and fail closed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.limits import LimitStorage, LoginGuard, unlock
from session_service.limits.guard import ip_key

from ..support.limits import FakeClock, limit_storage

__all__ = ["limit_storage"]

PASSWORD = "right"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def guard_on(storage: LimitStorage, clock: FakeClock, **options: float) -> LoginGuard:
    numbers: dict[str, Any] = {"max_failures": 3, "window": 600, "lockout": 300}
    numbers.update({"ip_max_failures": 10, **options})
    return LoginGuard(storage, clock=clock, **numbers)


async def login(guard: LoginGuard, user: str, ip: str, password: str) -> str:
    """What an app does: book, then check the password only when allowed."""
    decision = await guard.attempt(user, ip)
    if not decision.allowed:
        return "locked"
    if password != PASSWORD:
        return "wrong"
    await guard.succeeded(user, ip)
    return "ok"


async def test_pair_is_locked_after_max_failures_for_lockout(
    limit_storage: LimitStorage, clock: FakeClock
) -> None:
    guard = guard_on(limit_storage, clock)
    for _ in range(3):
        assert await login(guard, "alice", "1.2.3.4", "bad") == "wrong"
        clock.advance(1)
    refused = await guard.attempt("alice", "1.2.3.4")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(300 - 1)  # lockout after the 3rd failure
    assert await login(guard, "alice", "1.2.3.4", PASSWORD) == "locked"  # even the right one
    assert await login(guard, "alice", "5.6.7.8", PASSWORD) == "ok"  # another pair
    clock.advance(299)  # the lockout (shorter than the window) is over
    assert (await guard.check("alice", "1.2.3.4")).allowed
    assert await login(guard, "alice", "1.2.3.4", "bad") == "wrong"  # counting starts afresh
    assert await login(guard, "alice", "1.2.3.4", PASSWORD) == "ok"


async def test_hundred_parallel_wrong_passwords_let_exactly_max_failures_reach_the_check(
    limit_storage: LimitStorage, clock: FakeClock
) -> None:
    guard = guard_on(limit_storage, clock, max_failures=5, ip_max_failures=1000)
    outcomes = await asyncio.gather(*(login(guard, "bob", "9.9.9.9", "bad") for _ in range(100)))
    assert outcomes.count("wrong") == 5
    assert outcomes.count("locked") == 95


async def test_succeeded_clears_the_pair_and_takes_back_only_its_own_ip_booking(
    limit_storage: LimitStorage, clock: FakeClock
) -> None:
    guard = guard_on(limit_storage, clock, ip_max_failures=4)
    assert await login(guard, "carol", "7.7.7.7", "bad") == "wrong"
    assert await login(guard, "carol", "7.7.7.7", "bad") == "wrong"
    assert await login(guard, "carol", "7.7.7.7", PASSWORD) == "ok"
    # the pair starts afresh: three more failures before it locks
    for _ in range(2):
        assert await login(guard, "carol", "7.7.7.7", "bad") == "wrong"
    # the ip kept its 4 failures (2 + 2): the success took back only itself
    assert not (await guard.attempt("dave", "7.7.7.7")).allowed


async def test_an_ip_is_locked_after_ip_max_failures_across_usernames(
    limit_storage: LimitStorage, clock: FakeClock
) -> None:
    guard = guard_on(limit_storage, clock, ip_max_failures=4)
    for name in ("u1", "u2", "u3", "u4"):
        assert await login(guard, name, "6.6.6.6", "bad") == "wrong"
    decision = await guard.attempt("someone-new", "6.6.6.6")
    assert not decision.allowed and decision.retry_after == pytest.approx(300)
    assert await login(guard, "someone-new", "6.6.6.7", PASSWORD) == "ok"
    # the refused attempt booked nothing on the pair (only the ip's own log is cleared here)
    await limit_storage.reset(ip_key("6.6.6.6"))
    for _ in range(2):
        assert await login(guard, "someone-new", "6.6.6.6", "bad") == "wrong"
    assert await login(guard, "someone-new", "6.6.6.6", PASSWORD) == "ok"


async def test_usernames_compare_casefolded(limit_storage: LimitStorage, clock: FakeClock) -> None:
    guard = guard_on(limit_storage, clock)
    for name in ("Straße", "STRASSE", "strasse"):
        assert await login(guard, name, "1.1.1.1", "bad") == "wrong"
    assert not (await guard.check("StraSSe", "1.1.1.1")).allowed


async def test_check_books_nothing(limit_storage: LimitStorage, clock: FakeClock) -> None:
    guard = guard_on(limit_storage, clock)
    for _ in range(20):
        assert (await guard.check("erin", "2.2.2.2")).allowed
    for _ in range(3):
        assert await login(guard, "erin", "2.2.2.2", "bad") == "wrong"


async def test_unlock_by_user_and_by_ip(limit_storage: LimitStorage, clock: FakeClock) -> None:
    guard = guard_on(limit_storage, clock)
    for ip in ("3.3.3.1", "3.3.3.2"):
        for _ in range(3):
            await login(guard, "Frank", ip, "bad")
        assert not (await guard.check("frank", ip)).allowed
    assert await unlock(limit_storage, user="FRANK") == 2
    for ip in ("3.3.3.1", "3.3.3.2"):
        assert (await guard.check("frank", ip)).allowed
    for _ in range(3):
        await login(guard, "grace", "4.4.4.4", "bad")
    await unlock(limit_storage, ip="4.4.4.4")
    assert (await guard.check("grace", "4.4.4.4")).allowed
    with pytest.raises(ValueError, match="user, an ip"):
        await unlock(limit_storage)


async def test_store_down_fails_closed_with_one_line_and_no_names(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    backend = SessionStoreBackend.from_url("postgresql://nobody:pw@127.0.0.1:1/none")
    service = DefaultSessionService(backend, clock=clock)
    guard = service.login_guard()
    caplog.set_level(logging.INFO, logger="session_service")
    try:
        decision = await guard.attempt("Mallory-Name", "203.0.113.77")
        assert not decision.allowed and decision.retry_after > 0
        records = [r for r in caplog.records if r.name == "session_service"]
        assert len(records) == 1
        text = records[0].getMessage()
        assert "mallory" not in text.lower() and "203.0.113.77" not in text and "pw" not in text
        assert not (await guard.check("Mallory-Name", "203.0.113.77")).allowed
    finally:
        await service.close()
