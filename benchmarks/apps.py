"""The Starlette app every HTTP row serves, built for one variant (``uvicorn --factory``).

Every variant serves the same two routes: ``GET /read`` reads the session, ``GET /write``
changes it (a counter; a request without a session creates one, which is how the harness
gets its cookie). ``GET /ping`` touches no session (readiness probe). ``GET /anon`` (``ours-*``
only) starts a session without a user: a harness that then sends its cookie to ``/write`` signs
in the way a login does (the rotation on a change of user), where ``/write`` alone creates the
session already signed in. The variant comes from
the environment, so uvicorn can build the app in its own process:

``BENCH_VARIANT``  one of :data:`VARIANTS`
``BENCH_DB_URL``   the database of ``ours-*`` and ``floor`` (``ours-redis``: a ``redis://`` URL
                   with its own ``?key_prefix=``; ``ours-memory``: ``memory://``)
``BENCH_SECRET``   the signing key
``BENCH_REDIS_URL`` for ``starsessions-redis``
``BENCH_REDIS_PREFIX`` the key prefix of ``starsessions-redis`` (so the harness can delete its
                   keys afterwards)
``BENCH_PG_POOL_SIZE`` connections per PostgreSQL app (default :data:`PG_POOL_SIZE`'s 10)
``BENCH_METRICS_EXPORT_MS`` the ``-sdk*`` variants' export interval (default the SDK's 60 s)
``BENCH_MAX_PER_USER`` ``ours-*``: ``SESSION_MAX_PER_USER`` (default ``0``, unlimited)

``POST /login?user=U`` (``ours-*`` only) is a login route as an app writes one (issue 21): the
request brings the anonymous session ``/anon`` started, the handler calls ``cycle_id()`` and
sets ``user_id``; without an anonymous session it answers 409, so a load generator that lost
the cookie fails its run (only 2xx is throughput) instead of measuring a session's creation.

The metrics variants (issue 28): ``ours-*`` as they are count with the OpenTelemetry API
alone (metrics on, no SDK provider: the library's default); ``-nometrics`` sets
``SESSION_METRICS=false``; ``-sdk`` gives the service an SDK ``MeterProvider`` with a
``PeriodicExportingMetricReader`` (docs/operations.md, "Metrics"), its exporter the console's
into ``os.devnull``; ``-sdk-every`` also times every store call (``SESSION_METRICS_SAMPLE=1``).
An ``-sdk*`` app serves ``GET /export`` too: one collection and export, run in the request
(``force_flush``), so a harness can count what an export costs apart from the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, Signer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

VARIANTS = (
    "none",
    "cookie",
    "floor",
    "starsessions-memory",
    "starsessions-redis",
    "ours-sqlite",
    "ours-pg",
    "ours-redis",
    "ours-memory",
    "ours-sqlite-tracked",
    "ours-pg-tracked",
    "ours-sqlite-whole",
    "ours-pg-whole",
    "ours-sqlite-absolute",
    "ours-pg-absolute",
    "ours-pg-cached",
    "ours-redis-cached",
    "ours-sqlite-encrypted",
    "ours-pg-encrypted",
    "ours-redis-encrypted",
    *(f"ours-{db}-{m}" for db in ("sqlite", "pg") for m in ("nometrics", "sdk", "sdk-every")),
)
TTL_SECONDS = 14 * 24 * 3600
#: Connections per PostgreSQL app, the floor's pool and ours (``SESSION_DB_POOL_SIZE``) alike:
#: the HTTP table runs seven PostgreSQL apps side by side, and seven pools of the library's
#: default 20 outgrow a server's default ``max_connections`` of 100. ``BENCH_PG_POOL_SIZE``
#: sets another (a comparison with a release whose pool was fixed at 20).
PG_POOL_SIZE = int(os.environ.get("BENCH_PG_POOL_SIZE", "10"))
#: The encrypted variants' one key (``KEYID:BASE64``, 32 bytes): a benchmark's, never a secret.
_BENCH_KEY = "bench:" + "QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5DSEJFTkNIQkU="
_FLOOR_SALT = b"benchmarks.floor"
_FLOOR_COOKIE = "floor_sid"

Handler = Callable[[Request], Awaitable[Response]]


def _initial() -> dict[str, Any]:
    return {"user_id": "bench-user", "theme": "dark", "cart": [1, 2, 3], "n": 0}


async def read(request: Request) -> Response:
    return PlainTextResponse(str(request.session.get("n", "-")))


async def write(request: Request) -> Response:
    session = request.session
    if "user_id" not in session:
        session.update(_initial())
    session["n"] = int(session.get("n", 0)) + 1
    return PlainTextResponse("ok")


async def anon(request: Request) -> Response:
    request.session["n"] = 0
    return PlainTextResponse("ok")


async def login(request: Request) -> Response:
    """Sign the anonymous session in as ``?user=``: a new id (``cycle_id``), the data kept."""
    from session_service import get_session

    session = get_session(request)
    if "n" not in session or "user_id" in session:
        return PlainTextResponse("no anonymous session", status_code=409)
    session.cycle_id()
    session["user_id"] = request.query_params["user"]
    return PlainTextResponse("login")


async def write_whole(request: Request) -> Response:
    """``write``, saved whole: the whole session, not only the changed key.

    Marking the whole session changed (the hook ``flush``/``cycle_id`` use) sends the save
    down the middleware's whole-session ``update``, so the ``ours-*-whole`` rows measure the
    old write path in the same run as the delta write of the ``ours-*`` rows.
    """
    from session_service import get_session

    response = await write(request)
    get_session(request)._write(None)
    return response


async def ping(request: Request) -> Response:
    return PlainTextResponse("pong")


def _routes(read_h: Handler, write_h: Handler) -> list[Route]:
    return [Route("/read", read_h), Route("/write", write_h), Route("/ping", ping)]


def _no_session_app() -> Starlette:
    async def read_plain(request: Request) -> Response:
        return PlainTextResponse("-")

    async def write_plain(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=_routes(read_plain, write_plain))


async def _no_reset(conn: object) -> None:
    """asyncpg pool ``reset`` hook doing nothing, as the library's own pool does."""


def _floor_app(db_url: str, secret: str) -> Starlette:
    """The least a DB-backed session can do, with no session library at all.

    Like-for-like with the library's path: a signed id cookie, a pool without the reset round
    trip, one prepared ``SELECT`` per request, and on a write a data-only ``UPDATE`` (no index
    entry changes, like the library's ``UPDATE_DATA_SQL`` when the expiry is not due to move).
    """
    import asyncpg

    from session_service.settings import normalize_db_url

    dsn = normalize_db_url(db_url)[1].replace("postgresql+asyncpg://", "postgresql://", 1)
    signer = Signer(secret, salt=_FLOOR_SALT, digest_method=hashlib.sha256)
    pool: Any = None
    select_sql = "SELECT data FROM sessions WHERE id = $1 AND expiry_date > $2"
    update_sql = "UPDATE sessions SET data = $2, updated_at = $3 WHERE id = $1 AND expiry_date > $3"
    insert_sql = (
        "INSERT INTO sessions (id, data, expiry_date, user_id, tenant_id, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $5)"
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(
            dsn, min_size=PG_POOL_SIZE, max_size=PG_POOL_SIZE, reset=_no_reset
        )
        try:
            yield
        finally:
            await pool.close()

    def session_id(request: Request) -> str | None:
        raw = request.cookies.get(_FLOOR_COOKIE)
        if not raw:
            return None
        try:
            return signer.unsign(raw).decode()
        except BadSignature:
            return None

    async def load(sid: str, now: datetime) -> dict[str, Any] | None:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(select_sql, sid, now)
        return None if row is None else dict(json.loads(row[0]))

    async def floor_read(request: Request) -> Response:
        sid = session_id(request)
        data = await load(sid, datetime.now(UTC)) if sid is not None else None
        return PlainTextResponse(str((data or {}).get("n", "-")))

    async def floor_write(request: Request) -> Response:
        sid = session_id(request)
        now = datetime.now(UTC)
        data = await load(sid, now) if sid is not None else None
        if sid is None or data is None:
            sid = secrets.token_urlsafe(32)
            data = _initial()
            async with pool.acquire() as conn:
                await conn.execute(
                    insert_sql,
                    sid,
                    json.dumps(data),
                    now + timedelta(seconds=TTL_SECONDS),
                    data["user_id"],
                    now,
                )
            response = PlainTextResponse("ok")
            response.set_cookie(_FLOOR_COOKIE, signer.sign(sid).decode(), httponly=True)
            return response
        data["n"] = int(data.get("n", 0)) + 1
        async with pool.acquire() as conn:
            await conn.execute(update_sql, sid, json.dumps(data), now)
        return PlainTextResponse("ok")

    return Starlette(routes=_routes(floor_read, floor_write), lifespan=lifespan)


def _ours_app(
    db_url: str,
    secret: str,
    *,
    track_devices: bool = False,
    whole: bool = False,
    absolute: bool = False,
    cache: bool = False,
    encrypted: bool = False,
    metrics: str = "api",
) -> Starlette:
    """session_service's middleware; ``track_devices``: SESSION_TRACK_DEVICES=true (ip, user
    agent and a last_seen written at most once per 300 s per session); ``whole``: writes saved
    whole (the whole session, not only the changed key); ``absolute``:
    SESSION_ABSOLUTE_TTL_SECONDS set (twice the idle TTL); ``cache``: SESSION_CACHE=local;
    ``encrypted``: SESSION_ENCRYPTION_KEYS set (one key: every value sealed); ``metrics``:
    ``api`` (the default: the API alone), ``nometrics``, ``sdk`` or ``sdk-every``."""
    from session_service import DefaultSessionService, SessionSettings

    settings = SessionSettings.from_env(
        {
            "SESSION_DB_URL": db_url,
            "SESSION_SECRET_KEY": secret,
            "SESSION_TTL_SECONDS": str(TTL_SECONDS),
            "SESSION_DATA_DIR": os.environ.get("BENCH_DATA_DIR", ".session-data"),
            "SESSION_TRACK_DEVICES": "true" if track_devices else "false",
            "SESSION_ABSOLUTE_TTL_SECONDS": str(2 * TTL_SECONDS) if absolute else "0",
            "SESSION_CACHE": "local" if cache else "off",
            "SESSION_DB_POOL_SIZE": str(PG_POOL_SIZE),
            **({"SESSION_ENCRYPTION_KEYS": _BENCH_KEY} if encrypted else {}),
            "SESSION_METRICS": "false" if metrics == "nometrics" else "true",
            **({"SESSION_METRICS_SAMPLE": "1"} if metrics == "sdk-every" else {}),
            "SESSION_MAX_PER_USER": os.environ.get("BENCH_MAX_PER_USER", "0"),
        }
    )
    provider = _sdk_provider() if metrics.startswith("sdk") else None
    service = DefaultSessionService(None, settings, meter_provider=provider)
    extra = [Route("/anon", anon), Route("/login", login, methods=["POST"])]
    if provider is not None:

        async def export(request: Request) -> Response:
            provider.force_flush()
            return PlainTextResponse("ok")

        extra.append(Route("/export", export))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if service.metrics is not None:  # the live-sessions gauge counts on this loop
            service.metrics.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await service.close()
            if provider is not None:
                provider.shutdown()

    return Starlette(
        routes=[*_routes(read, write_whole if whole else write), *extra],
        middleware=[service.session_layer()],
        lifespan=lifespan,
    )


def _sdk_provider() -> Any:
    """An SDK ``MeterProvider`` with a periodic reader, set up as docs/operations.md tells an
    app to (its own thread exports every ``BENCH_METRICS_EXPORT_MS``; the console exporter
    writes into ``os.devnull``)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )

    interval = float(os.environ.get("BENCH_METRICS_EXPORT_MS", "60000"))
    exporter = ConsoleMetricExporter(out=open(os.devnull, "w"))  # noqa: SIM115 - lives with the app
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval)
    return MeterProvider(metric_readers=[reader])


def _starsessions_app(store: Any) -> Starlette:
    from starsessions import SessionAutoloadMiddleware
    from starsessions import SessionMiddleware as StarSessionMiddleware

    return Starlette(
        routes=_routes(read, write),
        middleware=[
            Middleware(
                StarSessionMiddleware,
                store=store,
                lifetime=TTL_SECONDS,
                cookie_https_only=False,
            ),
            Middleware(SessionAutoloadMiddleware),
        ],
    )


def build(variant: str, db_url: str = "", secret: str = "bench", redis_url: str = "") -> Starlette:
    """The app for ``variant``."""
    if variant == "none":
        return _no_session_app()
    if variant == "cookie":
        from starlette.middleware.sessions import SessionMiddleware as CookieSessionMiddleware

        return Starlette(
            routes=_routes(read, write),
            middleware=[
                Middleware(CookieSessionMiddleware, secret_key=secret, max_age=TTL_SECONDS)
            ],
        )
    if variant == "floor":
        return _floor_app(db_url, secret)
    if variant == "starsessions-memory":
        from starsessions import InMemoryStore

        return _starsessions_app(InMemoryStore())
    if variant == "starsessions-redis":
        from redis.asyncio import Redis
        from starsessions.stores.redis import RedisStore

        prefix = os.environ.get("BENCH_REDIS_PREFIX", "starsessions.")
        return _starsessions_app(RedisStore(connection=Redis.from_url(redis_url), prefix=prefix))
    for metrics in ("nometrics", "sdk-every", "sdk"):
        if variant in (f"ours-sqlite-{metrics}", f"ours-pg-{metrics}"):
            return _ours_app(db_url, secret, metrics=metrics)
    if variant.endswith("-encrypted"):
        return _ours_app(db_url, secret, encrypted=True)
    if variant in ("ours-pg-cached", "ours-redis-cached"):
        return _ours_app(db_url, secret, cache=True)
    if variant in ("ours-redis", "ours-memory"):
        return _ours_app(db_url, secret)
    if variant in ("ours-sqlite", "ours-pg", "ours-sqlite-tracked", "ours-pg-tracked"):
        return _ours_app(db_url, secret, track_devices=variant.endswith("-tracked"))
    if variant in ("ours-sqlite-whole", "ours-pg-whole"):
        return _ours_app(db_url, secret, whole=True)
    if variant in ("ours-sqlite-absolute", "ours-pg-absolute"):
        return _ours_app(db_url, secret, absolute=True)
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


def create_app() -> Starlette:
    """``uvicorn benchmarks.apps:create_app --factory``: the variant named by the environment."""
    env = os.environ
    return build(
        env["BENCH_VARIANT"],
        env.get("BENCH_DB_URL", ""),
        env.get("BENCH_SECRET", "bench"),
        env.get("BENCH_REDIS_URL", ""),
    )
