"""The short plain-text answers the session middleware gives instead of the app's: 503 when
the store cannot be reached, 429 for a rate limit, 400 for a tenant no store can hold. Each is
``no-store`` and small, so a proxy never caches it and a client never waits on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Send

from ..errors import RateLimitExceeded

if TYPE_CHECKING:
    from ..metrics import SessionMetrics

UNAVAILABLE_BODY = b"Service temporarily unavailable: the session store cannot be reached.\n"
BAD_TENANT_BODY = b"Bad request: this host or tenant name is not valid.\n"


async def send_plain(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_unavailable(send: Send, metrics: SessionMetrics | None = None) -> None:
    if metrics is not None:
        metrics.unavailable += 1
    await send_plain(send, 503, UNAVAILABLE_BODY, (b"retry-after", b"5"))


async def send_too_many(
    send: Send, exc: RateLimitExceeded, metrics: SessionMetrics | None = None
) -> None:
    if metrics is not None:
        metrics.rate_limited += 1
    headers = [(k.lower().encode(), v.encode()) for k, v in exc.result.headers().items()]
    await send_plain(send, 429, b"Too many requests: try again later.\n", *headers)
