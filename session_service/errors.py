"""The exceptions a caller may catch.

Every error the library raises on purpose is a :class:`SessionServiceError`, so an app can
catch one base class. Messages say what is wrong and how to fix it, and never contain a secret
key or a database password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .limits.results import RateLimitResult


class SessionServiceError(Exception):
    """Base class of every error raised by session_service on purpose."""


class SessionConfigError(SessionServiceError, ValueError):
    """A setting (usually an environment variable) is missing or invalid.

    The message names the variable and what is wrong with it, never a secret's value.
    """


class SessionStoreUnavailable(SessionServiceError):
    """The session database could not be reached or refused the operation.

    The driver's exception is chained as ``__cause__``; the message carries the database URL
    with its password masked. The middleware turns this into a 503, the CLI into exit code 1.
    """


class SessionDataError(SessionServiceError, ValueError):
    """Session data cannot be stored: a value is not JSON, ``user_id`` has the wrong type, or the
    serialized session is larger than the configured limit. Nothing was written."""


class RateLimitExceeded(SessionServiceError):
    """``service.limits.enforce`` refused a hit. ``.result`` is the
    :class:`~session_service.limits.RateLimitResult` (``retry_after``, ``limit``, ...).

    Raised out of a handler inside the session middleware, it becomes a ``429`` with
    ``Retry-After`` and the ``RateLimit-*`` headers. The message never names the key (keys
    often hold a user name or an address).
    """

    def __init__(self, result: RateLimitResult) -> None:
        super().__init__(f"rate limit exceeded: retry in {result.retry_after:.3f} s")
        self.result = result
