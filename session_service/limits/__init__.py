"""Rate limits, failed-login lockout and counters, on the session store (every kind).

* :class:`RateLimiter` (``service.limits``): exact sliding windows, ``hit``/``peek``/
  ``reset``/``enforce``.
* :class:`LoginGuard` (``service.login_guard(...)``): pair and ip lockouts, booked before
  the password check.
* :class:`Counters` (``service.counters``): integers with a cap and an expiry.

The algorithms are in :mod:`.core` and :mod:`.guard`, once; each store kind has a small
storage, offered by the store itself (``store.limit_storage()``), with the primitives of
:class:`LimitStorage`, each decision one atomic statement or script.

Errors: a bad key (not a str, empty, over 512 characters, NUL or unpaired surrogates) or a
bad number (``limit``/``amount`` not an int in 1 .. 2**63 - 1, ``bool`` included; ``window``/
``ttl`` not more than 0 seconds) is :class:`~session_service.errors.SessionDataError`, a
``ValueError``; an outage is :class:`~session_service.errors.SessionStoreUnavailable`, unless
the call says ``fail_open=True`` (``hit``, ``enforce``, ``add``): then it serves on with
``degraded=True`` on the result. The guard refuses during an outage, ``reason="unavailable"``.
"""

from __future__ import annotations

from ..errors import RateLimitExceeded
from .core import Counters, RateLimiter
from .guard import LoginDecision, LoginGuard, unlock
from .results import CounterResult, RateLimitResult
from .storage import LimitStorage, storage_for

__all__ = [
    "CounterResult",
    "Counters",
    "LimitStorage",
    "LoginDecision",
    "LoginGuard",
    "RateLimitExceeded",
    "RateLimitResult",
    "RateLimiter",
    "storage_for",
    "unlock",
]
