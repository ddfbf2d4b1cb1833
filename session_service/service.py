"""``DefaultSessionService``: one object an app holds for sessions.

It owns the backend and the settings, builds the middleware, runs the periodic cleanup of
expired rows, and offers the admin operations ("sign this user out everywhere") to app code.
Construction does no I/O: engines connect on first use, so an app starts even while its
database is still coming up, and answers 503 until it is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Self

from starlette.middleware import Middleware

from ._words import plural
from .backend import (
    SessionStoreBackend,
    apply_encryption,
    apply_lifetime,
    apply_max_per_user,
    ruled_store,
)
from .errors import SessionConfigError, SessionServiceError, SessionStoreUnavailable
from .health import HealthReport, check
from .limits import Counters, LimitStorage, LoginGuard, RateLimiter, storage_for
from .limits._checks import wall_clock
from .metrics import metrics_for
from .service_admin import UserAdmin
from .settings import SessionSettings
from .web.middleware import SessionMiddleware, TenantResolver

logger = logging.getLogger("session_service")

#: Waits between two background migration attempts while the database is down at start-up.
_MIGRATE_RETRY_FIRST, _MIGRATE_RETRY_MAX = 0.5, 30.0


class DefaultSessionService(UserAdmin):
    """Sessions for an ASGI app, stored in the backend named by the settings.

    ``backend_or_url`` may be a :class:`SessionStoreBackend`, a database URL, or ``None`` for
    the settings' ``SESSION_DB_URL``. ``settings`` default to :meth:`SessionSettings.from_env`.
    With ``auto_migrate=True``, ``async with service`` and :meth:`lifespan` migrate on entry.
    ``clock`` (seconds, like :func:`time.time`) is the one clock of the rate limits, the
    login guard and the counters; tests inject their own. ``meter_provider``: the metrics'.
    """

    def __init__(
        self,
        backend_or_url: SessionStoreBackend | str | None = None,
        settings: SessionSettings | None = None,
        *,
        auto_migrate: bool = False,
        clock: Callable[[], float] = wall_clock,
        meter_provider: Any = None,
    ) -> None:
        self.clock = clock
        self.settings = settings if settings is not None else SessionSettings.from_env()
        if isinstance(backend_or_url, SessionStoreBackend):
            self._backend = backend_or_url
            if backend_or_url.store.max_bytes is None:
                # SESSION_MAX_BYTES holds for a backend built by the caller too, unless that
                # backend was given a limit of its own.
                backend_or_url.store.max_bytes = self.settings.max_bytes
            apply_lifetime(backend_or_url.store, self.settings)
            apply_encryption(backend_or_url.store, self.settings)
            ruled = ruled_store(backend_or_url.store)
            if self.settings.max_per_user and not getattr(ruled, "max_per_user", 0):
                # SESSION_MAX_PER_USER likewise (a store of your own without it is refused).
                apply_max_per_user(backend_or_url.store, self.settings.max_per_user)
        else:
            self._backend = SessionStoreBackend.from_settings(self.settings, backend_or_url or None)
        #: The counts (``None``: ``SESSION_METRICS=false`` or no ``otel`` extra).
        self.metrics = metrics_for(self._backend.store, self.settings, meter_provider, clock)
        self.auto_migrate = auto_migrate
        self._cleanup_task: asyncio.Task[None] | None = None
        self._migrate_task: asyncio.Task[None] | None = None
        #: Set once ``auto_migrate`` has brought the schema to head (at once or in the background).
        self.migrated = asyncio.Event()
        self._lifespan_entered = False
        #: Serializes the first requests' migration (see :meth:`migrate_on_first_request`); a
        #: lock belongs to one event loop, so a new loop gets a new one.
        self._first_request_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        # Set after every cleanup run, successful or not (lets tests wait without sleeping).
        self._cleanup_ran = asyncio.Event()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, auto_migrate: bool = False
    ) -> Self:
        """The service configured by the environment (see :class:`SessionSettings`). No I/O."""
        return cls(None, SessionSettings.from_env(environ), auto_migrate=auto_migrate)

    def __repr__(self) -> str:
        return f"DefaultSessionService({self._backend.display_url!r})"

    # -- wiring --------------------------------------------------------------------------

    def session_layer(self, tenant_resolver: TenantResolver | None = None) -> Middleware:
        """The middleware entry for ``Starlette(middleware=[...])``.

        ``tenant_resolver(scope)`` returns the tenant of a request (or ``None``); a session is
        created under that tenant and its cookie is honoured only under the same tenant.
        """
        return Middleware(SessionMiddleware, service=self, tenant_resolver=tenant_resolver)

    def get_session_store(self) -> SessionStoreBackend:
        """The backend the service stores sessions in (for the store-level operations)."""
        return self._backend

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe across processes)."""
        await self._backend.migrate()

    async def close(self) -> None:
        """Stop the background tasks and release database connections."""
        await self.stop_cleanup()
        if self.metrics is not None:
            self.metrics.start(None)  # a closed store is not counted again
        task, self._migrate_task = self._migrate_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._backend.close()

    async def health(self) -> HealthReport:
        """Whether the store answers within ``SESSION_DB_TIMEOUT_SECONDS``; never raises.
        For a readiness route, never a liveness one (docs/operations.md, "Health and
        readiness"): a store outage must not get every instance restarted."""
        return await check(self._backend, self.settings.db_timeout_seconds)

    async def migrate_on_first_request(self) -> None:
        """With ``auto_migrate=True`` and no lifespan entered, migrate once, before the first
        request that reaches the middleware (the middleware calls this).

        A middleware mounted inside a sub-app (``Mount("/admin", app=...)``, as admin panels
        do) never sees a lifespan, so the start-up migration never ran. Concurrent first
        requests share one migration; it may take ``SESSION_DB_TIMEOUT_SECONDS``, after which
        the request gets a 503 and a later request tries again. Once the lifespan ran, this
        does nothing: the lifespan (or its retries in the background) migrates.
        """
        if not self.auto_migrate or self._lifespan_entered or self.migrated.is_set():
            return
        loop = asyncio.get_running_loop()
        if self._first_request_lock is None or self._first_request_lock[0] is not loop:
            self._first_request_lock = (loop, asyncio.Lock())
        async with self._first_request_lock[1]:
            if self.migrated.is_set():
                return  # another request migrated while this one waited
            timeout = self.settings.db_timeout_seconds
            try:
                async with asyncio.timeout(timeout):
                    await self.migrate()
            except TimeoutError:
                raise SessionStoreUnavailable(
                    f"migrating the session database at {self._backend.display_url} took "
                    f"longer than SESSION_DB_TIMEOUT_SECONDS ({timeout:g} s); the next request "
                    "tries again (or run `session-service migrate`)"
                ) from None
            self.migrated.set()

    async def __aenter__(self) -> Self:
        self._lifespan_entered = True
        # The one start-up line: which store this instance uses (the URL's password masked).
        logger.info("session store: %s at %s", self._backend.kind, self._backend.display_url)
        if self.metrics is not None:
            self.metrics.start(asyncio.get_running_loop())  # the live-sessions gauge's loop
        if self.auto_migrate:
            try:
                await self.migrate()
                self.migrated.set()
            except SessionStoreUnavailable as exc:
                # The app starts anyway (requests get 503 until the database answers) and the
                # migration is retried in the background: a database that comes up after its
                # app is normal in containers.
                logger.warning("cannot migrate at start-up, retrying in the background: %s", exc)
                self._migrate_task = asyncio.get_running_loop().create_task(
                    self._migrate_until_done(), name="session_service.migrate"
                )
        self.start_cleanup()
        return self

    async def _migrate_until_done(self) -> None:
        wait = _MIGRATE_RETRY_FIRST
        while True:
            await asyncio.sleep(wait)
            try:
                await self.migrate()
            except SessionStoreUnavailable:
                wait = min(wait * 2, _MIGRATE_RETRY_MAX)
                continue
            logger.warning("the session database is reachable again: schema migrated")
            self.migrated.set()
            return

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """A Starlette/FastAPI lifespan: ``Starlette(lifespan=service.lifespan)``."""
        async with self:
            yield

    # -- expired-session cleanup -----------------------------------------------------------

    def start_cleanup(self) -> None:
        """Start deleting expired sessions every ``SESSION_CLEANUP_INTERVAL_SECONDS`` (0: off).

        In cluster mode only one instance at a time cleans (a PostgreSQL advisory lock); a
        failed run is logged and retried at the next interval, never raised into the app.
        """
        interval = self.settings.cleanup_interval_seconds
        if interval <= 0 or self._cleanup_task is not None:
            return
        self._cleanup_task = asyncio.get_running_loop().create_task(
            self._cleanup_loop(interval), name="session_service.cleanup"
        )

    async def stop_cleanup(self) -> None:
        """Stop the background cleanup (if running) and wait until it has stopped."""
        task, self._cleanup_task = self._cleanup_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def cleanup_once(self) -> int | None:
        """One cleanup run; ``None`` when another instance holds the cleanup lock.

        Expired rate-limit and counter entries go in the same run (not counted in the result).
        """
        deleted = await self._backend.delete_expired_if_leader()
        if deleted is not None and self._limit_storage_or_none() is not None:
            await self.limits.delete_expired()
        return deleted

    async def _cleanup_loop(self, interval: int) -> None:
        while True:
            try:
                deleted = await self.cleanup_once()
                if deleted:
                    logger.info("deleted %s", plural(deleted, "expired session"))
            except SessionServiceError as exc:
                logger.warning("expired-session cleanup failed, will retry: %s", exc)
            except Exception:
                logger.exception("expired-session cleanup failed, will retry")
            self._cleanup_ran.set()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # A driver swallowed the cancellation (redis-py does, now and then, when it
                # lands mid-command): stop anyway, or stop_cleanup() would wait forever.
                raise asyncio.CancelledError
            await asyncio.sleep(interval)

    # -- rate limits, failed logins, counters (docs/limits.md) -----------------------------------

    def _limit_storage_or_none(self) -> LimitStorage | None:
        try:
            return self._limit_storage
        except SessionConfigError:
            return None  # a custom store without limits: the session cleanup still runs

    @functools.cached_property
    def _limit_storage(self) -> LimitStorage:
        return storage_for(self._backend.store)

    @functools.cached_property
    def limits(self) -> RateLimiter:
        """Exact sliding-window rate limits on this service's store (``hit``, ``peek``,
        ``reset``, ``enforce``). Raises :class:`SessionConfigError` for a store of your own
        that offers no ``limit_storage``."""
        return RateLimiter(self._limit_storage, self.clock)

    @functools.cached_property
    def counters(self) -> Counters:
        """Integer counters with a cap and an expiry (``add``, ``get``, ``reset``)."""
        return Counters(self._limit_storage, self.clock)

    def login_guard(
        self,
        max_failures: int = 5,
        window: float = 900,
        lockout: float = 900,
        ip_max_failures: int = 100,
        name: str = "default",
    ) -> LoginGuard:
        """A failed-login guard: call ``attempt`` before checking a password, ``succeeded``
        after a right one (see :class:`~session_service.limits.LoginGuard`). Guards of
        different ``name`` keep separate books (a one-time-code guard next to a password
        guard never lifts its lock); guards of one name share theirs."""
        return LoginGuard(
            self._limit_storage,
            max_failures=max_failures,
            window=window,
            lockout=lockout,
            ip_max_failures=ip_max_failures,
            name=name,
            clock=self.clock,
            metrics=self.metrics,
        )
