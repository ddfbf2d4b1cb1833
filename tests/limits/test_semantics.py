"""``service.limits`` and ``service.counters`` on every storage: the exact sliding window,
refused hits, peek, reset, the numbers a caller sees, concurrency, expiry and bad input."""

from __future__ import annotations

import asyncio
import random

import pytest

from session_service import RateLimitExceeded, SessionDataError
from session_service.limits import Counters, LimitStorage, RateLimiter

from ..support.limits import FakeClock, limit_storage

__all__ = ["limit_storage"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limits(limit_storage: LimitStorage, clock: FakeClock) -> RateLimiter:
    return RateLimiter(limit_storage, clock)


@pytest.fixture
def counters(limit_storage: LimitStorage, clock: FakeClock) -> Counters:
    return Counters(limit_storage, clock)


async def test_the_window_edge_is_exact(limits: RateLimiter, clock: FakeClock) -> None:
    start = clock.now
    for offset in (0.0, 0.5, 1.0):
        clock.now = start + offset
        assert (await limits.hit("k", limit=3, window=2)).allowed
    clock.now = start + 1.999
    refused = await limits.hit("k", limit=3, window=2)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.001)
    assert refused.remaining == 0
    clock.now = start + 2.0  # the hit at 0 has left [now - 2 s, now)
    allowed = await limits.hit("k", limit=3, window=2)
    assert allowed.allowed and allowed.retry_after == 0.0 and allowed.remaining == 0


async def test_refused_hits_count_nothing_and_move_nothing(
    limits: RateLimiter, clock: FakeClock
) -> None:
    start = clock.now
    assert (await limits.hit("k", limit=1, window=10)).allowed
    for step in range(1, 100):
        clock.now = start + step * 0.1
        result = await limits.hit("k", limit=1, window=10)
        assert not result.allowed
        assert result.retry_after == pytest.approx(10 - step * 0.1)
    clock.now = start + 10
    assert (await limits.hit("k", limit=1, window=10)).allowed


async def test_no_window_ever_holds_more_than_the_limit(
    limits: RateLimiter, clock: FakeClock
) -> None:
    rng = random.Random(12)
    allowed: list[float] = []
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.001, 0.05, 0.3, 1.0]))
        result = await limits.hit("k", limit=4, window=1.5)
        # the rule, by brute force: fewer than 4 allowed hits in (now - 1.5, now]
        recent = [t for t in allowed if t > clock.now - 1.5 + 1e-9]
        assert result.allowed == (len(recent) < 4)
        if result.allowed:
            allowed.append(clock.now)
    assert len(allowed) > 50


async def test_numbers_remaining_reset_after(limits: RateLimiter, clock: FakeClock) -> None:
    first = await limits.hit("k", limit=5, window=60)
    assert (first.allowed, first.limit, first.remaining) == (True, 5, 4)
    assert first.reset_after == pytest.approx(60)
    clock.advance(20)
    second = await limits.hit("k", limit=5, window=60)
    assert second.remaining == 3 and second.reset_after == pytest.approx(60)
    clock.advance(45)  # the first hit has left the window
    peeked = await limits.peek("k", limit=5, window=60)
    assert peeked.remaining == 4 and peeked.reset_after == pytest.approx(15)


async def test_peek_counts_nothing(limits: RateLimiter) -> None:
    for _ in range(5):
        peeked = await limits.peek("k", limit=2, window=60)
        assert peeked.allowed and peeked.remaining == 2
    assert (await limits.hit("k", limit=2, window=60)).remaining == 1
    assert (await limits.hit("k", limit=2, window=60)).remaining == 0
    full = await limits.peek("k", limit=2, window=60)
    assert not full.allowed and full.retry_after == pytest.approx(60)


async def test_reset_forgets_every_hit(limits: RateLimiter) -> None:
    await limits.hit("k", limit=1, window=60)
    assert not (await limits.hit("k", limit=1, window=60)).allowed
    await limits.reset("k")
    assert (await limits.hit("k", limit=1, window=60)).allowed
    await limits.reset("never-used")  # no error


async def test_keys_are_independent_and_any_unicode(limits: RateLimiter) -> None:
    keys = ["a", "A", "ä", "日本語", "x" * 512, "emoji 🎉", "with%and_", "it's"]
    for key in keys:
        assert (await limits.hit(key, limit=1, window=60)).allowed
    for key in keys:
        assert not (await limits.hit(key, limit=1, window=60)).allowed


async def test_enforce_raises_with_the_result(limits: RateLimiter) -> None:
    await limits.enforce("k", limit=1, window=30)
    with pytest.raises(RateLimitExceeded) as caught:
        await limits.enforce("k", limit=1, window=30)
    assert caught.value.result.retry_after == pytest.approx(30)
    assert "k" not in str(caught.value).replace("exceeded", "")


async def test_400_concurrent_hits_let_exactly_the_limit_through(limits: RateLimiter) -> None:
    results = await asyncio.gather(
        *(limits.hit("burst", limit=100, window=3600) for _ in range(400))
    )
    assert sum(r.allowed for r in results) == 100
    assert not (await limits.peek("burst", limit=100, window=3600)).allowed


async def test_a_lower_limit_on_an_existing_key_uses_the_newest_hits(limits: RateLimiter) -> None:
    for _ in range(5):
        await limits.hit("k", limit=10, window=60)
    assert not (await limits.hit("k", limit=3, window=60)).allowed
    assert (await limits.hit("k", limit=6, window=60)).allowed


@pytest.mark.parametrize(
    ("key", "limit", "window"),
    [
        ("", 1, 1),
        ("x" * 513, 1, 1),
        ("nul\0", 1, 1),
        (b"bytes", 1, 1),
        ("k", 0, 1),
        ("k", -1, 1),
        ("k", 2**63, 1),
        ("k", 1.5, 1),
        ("k", True, 1),
        ("k", 1, 0),
        ("k", 1, -5),
        ("k", 1, float("nan")),
        ("k", 1, float("inf")),
        ("k", 1, 2**63),
        ("k", 1, False),
    ],
)
async def test_bad_keys_and_numbers_are_data_errors(
    limits: RateLimiter, key: object, limit: object, window: object
) -> None:
    for call in (limits.hit, limits.peek, limits.enforce):
        with pytest.raises(SessionDataError):
            await call(key, limit=limit, window=window)  # type: ignore[arg-type]


# -- counters -------------------------------------------------------------------------------


async def test_counter_adds_gets_and_resets(counters: Counters) -> None:
    assert await counters.get("c") == 0
    assert (await counters.add("c", 5)).value == 5
    assert (await counters.add("c", 2**40)).value == 5 + 2**40
    assert await counters.get("c") == 5 + 2**40
    await counters.reset("c")
    assert await counters.get("c") == 0


async def test_counter_cap_is_never_exceeded(counters: Counters) -> None:
    assert (await counters.add("budget", 70, cap=100)).applied
    refused = await counters.add("budget", 31, cap=100)
    assert (refused.applied, refused.value) == (False, 70)
    assert (await counters.add("budget", 30, cap=100)).value == 100
    assert not (await counters.add("fresh", 101, cap=100)).applied
    assert await counters.get("fresh") == 0


async def test_concurrent_capped_adds_stop_exactly_at_the_cap(counters: Counters) -> None:
    results = await asyncio.gather(*(counters.add("cap", 3, cap=150) for _ in range(200)))
    assert sum(r.applied for r in results) == 50
    assert await counters.get("cap") == 150


# Redis expires keys on its own clock, not the injected one: its counter TTL is checked in
# test_limits_processes.
@pytest.mark.stores("sqlite", "postgres", "memory")
async def test_counter_ttl_is_set_at_creation_and_never_moved(
    counters: Counters, clock: FakeClock
) -> None:
    await counters.add("c", 1, ttl=10)
    clock.advance(9)
    assert (await counters.add("c", 1, ttl=10)).value == 2
    clock.advance(1)  # 10 s after creation, whatever the adds in between
    assert await counters.get("c") == 0
    assert (await counters.add("c", 4, ttl=10)).value == 4  # starts afresh
    clock.advance(5)
    assert await counters.get("c") == 4


async def test_expired_entries_are_deleted(
    limits: RateLimiter, counters: Counters, limit_storage: LimitStorage, clock: FakeClock
) -> None:
    await limits.hit("short", limit=1, window=1)
    await limits.hit("long", limit=1, window=100)
    await counters.add("short", 1, ttl=1)
    await counters.add("forever", 1)
    clock.advance(2)
    deleted = await limits.delete_expired()
    if type(limit_storage).__name__ != "RedisLimitStorage":
        assert deleted == 2
    assert not (await limits.peek("long", limit=1, window=100)).allowed
    assert await counters.get("forever") == 1


@pytest.mark.parametrize(
    ("amount", "ttl", "cap"),
    [(0, None, None), (-1, None, None), (1.5, None, None), (True, None, None), (2**63, None, None),
     (1, 0, None), (1, -1, None), (1, None, -1), (1, None, 2**63), (1, None, 1.0)],
)  # fmt: skip
async def test_bad_counter_numbers_are_data_errors(
    counters: Counters, amount: object, ttl: object, cap: object
) -> None:
    with pytest.raises(SessionDataError):
        await counters.add("c", amount, ttl=ttl, cap=cap)  # type: ignore[arg-type]
    assert await counters.get("c") == 0


def test_the_sql_log_text_reads_as_the_log_does() -> None:
    """SQL stores read the window straight off the stored text; it must agree with the log."""
    from session_service.limits.storage import encode_log, window_of
    from session_service.stores.sql.limits import _window_of_text

    rng = random.Random(3)
    for _ in range(5000):
        log = sorted(rng.randint(0, 5000) for _ in range(rng.randint(1, 30)))
        limit, window, now = rng.randint(1, 35), rng.randint(1, 3000), rng.randint(0, 8000)
        assert _window_of_text(encode_log(log), limit, window, now) == window_of(
            log, limit, window, now
        ), (log, limit, window, now)
