"""The checks every limit and counter call makes before touching a store, and the app clock.

All are :class:`~session_service.errors.SessionDataError` (a ``ValueError``): a bad key or
number is the caller's mistake, reported before anything is read or written, never a 500.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..errors import SessionDataError
from ..storable import LIMIT_KEY_LENGTH, check_text

#: Longest key, in characters (any Unicode but NUL and unpaired surrogates).
MAX_KEY_LENGTH = LIMIT_KEY_LENGTH
#: Integers the stores hold exactly (SQL ``BIGINT``, Redis ``INCRBY``).
MAX_INT = 2**63 - 1
#: Longest window, in seconds: about 31 years, far inside the millisecond clock's range.
MAX_WINDOW_SECONDS = 10**9
#: Log entries are fixed-width milliseconds: 13 digits last until the year 2286.
MS_WIDTH = 13
MAX_MS = 10**MS_WIDTH - 1

#: The app clock: seconds since the epoch, like :func:`time.time` (tests inject their own).
Clock = Callable[[], float]


def check_key(key: str) -> str:
    if not isinstance(key, str):
        raise SessionDataError(f"a limit or counter key must be a str, not {type(key).__name__}")
    if not key:
        raise SessionDataError("a limit or counter key must not be empty")
    check_text("a limit or counter key", key, MAX_KEY_LENGTH)
    return key


def check_count(what: str, value: int, *, minimum: int = 1) -> int:
    """A whole number in ``[minimum, 2**63 - 1]``; ``bool`` and ``float`` are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SessionDataError(f"{what} must be an int, not {type(value).__name__}")
    if not minimum <= value <= MAX_INT:
        raise SessionDataError(f"{what} must be between {minimum} and 2**63 - 1, not {value}")
    return value


def check_seconds(what: str, value: float) -> int:
    """A positive duration in seconds (int or float), as whole milliseconds (at least 1)."""
    if type(value) is int and 0 < value <= MAX_WINDOW_SECONDS:
        return value * 1000  # the common case, without the float checks
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SessionDataError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not (math.isfinite(value) and 0 < value <= MAX_WINDOW_SECONDS):
        raise SessionDataError(
            f"{what} must be more than 0 and at most {MAX_WINDOW_SECONDS} seconds, not {value}"
        )
    return max(1, round(value * 1000))


def now_ms(clock: Clock) -> int:
    """The app clock in whole milliseconds; the one time source of every decision."""
    ms = int(clock() * 1000)
    if not 0 <= ms <= MAX_MS:
        raise SessionDataError(f"the limits clock returned {ms} ms, outside 0..{MAX_MS}")
    return ms


def wall_clock() -> float:
    return time.time()
