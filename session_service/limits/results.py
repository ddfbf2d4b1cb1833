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
    ``degraded``: the store was down and the call asked for ``fail_open``: the hit was
    allowed without being counted (``remaining == limit``, both times 0.0).
    (A named tuple: it is made on every hit, and a frozen dataclass costs ten times more.)
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float
    degraded: bool = False

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
    """Whether an add was applied, and the value afterwards. ``degraded``: the store was down
    and the add asked for ``fail_open``: nothing was applied and the value is unknown (0)."""

    applied: bool
    value: int
    degraded: bool = False
