"""What a limit or a counter answers: plain values, importing nothing from the package, so
:class:`~session_service.errors.RateLimitExceeded` can carry one without the errors module
depending on the limits that raise it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class RateLimitResult(NamedTuple):
    """The state of one key after a hit (or at a peek). Times are seconds.

    ``retry_after``: until the next hit would be allowed (0.0 when this one was allowed);
    ``reset_after``: until every counted hit has left the window (``remaining == limit``).
    (A named tuple: it is made on every hit, and a frozen dataclass costs ten times more.)
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit/-Remaining/-Reset`` (and ``Retry-After`` when refused), whole
        seconds rounded up, for a response (the middleware sends them with a 429)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(_whole_seconds(self.reset_after)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, _whole_seconds(self.retry_after)))
        return headers


def _whole_seconds(seconds: float) -> int:
    return -int(-seconds // 1)


@dataclass(frozen=True, slots=True)
class CounterResult:
    """What ``service.counters.add`` did: ``applied`` (the cap let it through) and ``value``
    (the counter afterwards)."""

    applied: bool
    value: int
