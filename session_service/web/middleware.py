"""``SessionMiddleware``: a pure ASGI middleware that gives each request a server-side session.

The hot path, per request:

1. No session cookie: ``scope["session"]`` is an empty :class:`Session`; no database work.
2. A cookie that verifies: one primary-key ``SELECT`` (live rows only, of this tenant).
   Anything else (tampered, foreign key, unknown, expired, other tenant) is an empty new
   session; the client's id is never adopted.
3. When the response starts, and only if the status is below 500: the session is saved
   once (an ``UPDATE`` of only the keys the request set or removed, merged into the row as
   it is then, so an overlapping request's other keys survive; the row must still exist, so
   a session revoked meanwhile stays revoked), created (``INSERT`` under a fresh id),
   rotated (``cycle_id``, or a change of ``session["user_id"]`` with
   ``SESSION_ROTATE_ON_USER_CHANGE``) or deleted (``flush`` or emptied). Reads and writes move the
   expiry at most once per tenth of the TTL (a read-only request then does one ``UPDATE``
   of the expiry alone; never with ``SESSION_ROLLING=false``). A save that finds its row
   gone sends no cookie. A store outage at any point answers 503 and loses nothing already
   stored.

A tenant the resolver names that no store can hold is a 400 before any database work.

A websocket gets its session loaded the same way; it may change it (Starlette-Login marks every
connection), but nothing saves those changes: there is no response to carry a cookie, as with
Starlette's own session. Change the session in an HTTP request to keep the change.

With ``SESSION_TRACK_DEVICES`` on, a new session also stores the client's ip and
``User-Agent`` (no parsing here: labels are made when sessions are listed), and a session's
``last_seen`` is written at most once per ``SESSION_LAST_SEEN_SECONDS``: folded into the save
or the expiry extension when the request does one, else one small ``UPDATE`` of that column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..cache.websockets import run_watched
from ..errors import RateLimitExceeded, SessionStoreUnavailable
from ..records import SessionRecord, utcnow
from ..storable import PRINCIPAL_LENGTH, USER_AGENT_LENGTH, storable
from .client import client_ip, coarse
from .cookie import CookieCodec
from .responses import BAD_TENANT_BODY, send_plain, send_too_many, send_unavailable
from .session import Session
from .source import SessionSource

if TYPE_CHECKING:
    from ..metrics import SessionMetrics

logger = logging.getLogger("session_service")

TenantResolver = Callable[[Scope], "str | None"]

#: Activity extends the expiry only when more than this fraction of the TTL has passed since
#: the last extension: a busy reader writes at most ten times per TTL, most writes change no
#: index entry, and an idle session expires on time.
TOUCH_FRACTION = 0.1


class _BadTenant(Exception):
    """The tenant resolver returned a name no store can hold (too long, NUL, not UTF-8)."""


def _check_tenant(tenant: str | None) -> None:
    if tenant is not None and (len(tenant) > PRINCIPAL_LENGTH or not storable(tenant)):
        raise _BadTenant(tenant)


class SessionMiddleware:
    """Mount with ``Starlette(middleware=[service.session_layer()])`` or
    ``app.add_middleware(SessionMiddleware, service=service)``."""

    def __init__(
        self,
        app: ASGIApp,
        service: SessionSource,
        tenant_resolver: TenantResolver | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.tenant_resolver = tenant_resolver
        self.store = service.get_session_store()
        self.cookie = CookieCodec(service.settings)
        self.ttl = timedelta(seconds=service.settings.ttl_seconds)
        self.touch_after = self.ttl * TOUCH_FRACTION
        #: ``now - expiry`` at or below this: the default TTL's extension is not due
        #: (``now + ttl - expiry <= touch_after``, exact in ``timedelta``'s microseconds).
        self._not_due = self.touch_after - self.ttl
        self.rolling = service.settings.rolling
        settings = service.settings
        self.track = settings.track_devices != "off"
        self.coarse = settings.track_devices == "coarse"
        self.trusted_proxies = settings.trusted_proxies
        self.seen_every = timedelta(seconds=settings.last_seen_seconds)
        self.rotate_on_user_change = settings.rotate_on_user_change
        self.migrate_first = service.auto_migrate
        self.metrics: SessionMetrics | None = getattr(service, "metrics", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            session, cookie_sent = await self._load(scope, readonly=kind == "websocket")
        except SessionStoreUnavailable as exc:
            logger.error("session store unavailable while loading a session: %s", exc)
            if kind == "http":
                await send_unavailable(send, self.metrics)
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        except _BadTenant as exc:
            # Any client can send such a Host to a host-based resolver: a 400, never a 500.
            logger.info("refused a request whose tenant cannot be stored: %.60r", exc.args[0])
            if kind == "http":
                await send_plain(send, 400, BAD_TENANT_BODY)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        scope["session"] = session
        if kind == "websocket":  # closed when its session is revoked (with SESSION_CACHE)
            await run_watched(self.store.store, session.id, self.app, scope, receive, send)
            return

        started = False
        swallow = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started, swallow
            if swallow:
                return
            if message["type"] == "http.response.start":
                started = True
                try:
                    header = None  # what ``_commit`` answers for most reads, asked first
                    if not self._nothing_due(session):
                        header = await self._commit(session, cookie_sent, message["status"], scope)
                except SessionStoreUnavailable as exc:
                    logger.error("session store unavailable while saving a session: %s", exc)
                    swallow = True
                    await send_unavailable(send, self.metrics)
                    return
                if header is not None or session.accessed:
                    headers = list(message.get("headers", []))
                    if header is not None:
                        headers.append((b"set-cookie", header))
                    headers.append((b"vary", b"Cookie"))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except SessionStoreUnavailable as exc:
            # The handler itself used the store (e.g. an admin call) during an outage.
            if started:
                raise
            logger.error("session store unavailable in a request handler: %s", exc)
            await send_unavailable(send, self.metrics)
        except RateLimitExceeded as exc:
            # service.limits.enforce() in the handler: 429 with Retry-After and RateLimit-*.
            if started:
                raise
            await send_too_many(send, exc, self.metrics)

    async def _load(self, scope: Scope, *, readonly: bool) -> tuple[Session, bool]:
        if self.migrate_first and not self.service.migrated.is_set():
            # auto_migrate in a sub-app that never sees a lifespan: the first request migrates.
            await self.service.migrate_on_first_request()
        resolver, tenant = self.tenant_resolver, None
        if resolver is not None:
            tenant = resolver(scope)
            _check_tenant(tenant)
        ids, cookie_sent = self.cookie.session_ids(scope["headers"])
        if cookie_sent and not ids and self.metrics is not None:
            self.metrics.invalid += 1  # tampered, foreign or malformed: never reaches the store
        for session_id in ids:
            record = await self.store.load(session_id)
            if record is not None and record.tenant_id == tenant:
                session = Session(
                    record.data,
                    session_id=record.id,
                    tenant_id=tenant,
                    expiry_date=record.expiry_date,
                    readonly=readonly,
                    last_seen=record.last_seen,
                    idle_ttl=record.idle_ttl,
                    persistent=record.persistent,
                    absolute_expiry=record.absolute_expiry,
                )
                return session, cookie_sent
        return Session(tenant_id=tenant, readonly=readonly), cookie_sent

    async def _commit(
        self, session: Session, cookie_sent: bool, status: int, scope: Scope
    ) -> bytes | None:
        """Persist what the handler did; returns the ``Set-Cookie`` value to send, if any.

        A save that finds its row gone (revoked, or moved by a concurrent login of the same
        browser) sends no cookie at all: expiring it here could delete the cookie the login
        just set. The next request with a dead cookie expires it (the ``old_id is None`` path).
        """
        if status >= 500:
            return None  # a failed request must not leave half its changes behind
        old_id = session.id
        if not session.modified:
            if old_id is None:
                # A cookie was sent but named no live session: tell the browser to drop it.
                return self.cookie.clear_header() if cookie_sent else None
            now = utcnow()
            seen = self._seen_due(session, now)
            if self.rolling:
                ttl = self._ttl(session)
                target = self._target(session, now, ttl)
                if self._extension_due(session, target, ttl):
                    if await self.store.touch(old_id, target, last_seen=seen):
                        # The browser's copy must live as long as the server's: re-send it,
                        # rarely.
                        return self._set_cookie(old_id, session, target, now, ttl)
                    return None  # the row is gone: the next request expires the cookie
            if seen is not None:
                await self.store.seen(old_id, seen)  # gone meanwhile: the next request finds out
            return None
        flushed = session.flushed_id
        if flushed is not None:
            await self.store.delete(flushed)
        if not dict.__len__(session):
            if old_id is not None:
                await self.store.delete(old_id)
            gone = cookie_sent or old_id is not None or flushed is not None
            return self.cookie.clear_header() if gone else None
        now = utcnow()
        if (
            old_id is not None
            and self.rotate_on_user_change
            and not session.cycle_requested
            and session.user_changed
        ):
            # A login or logout that forgot cycle_id(): the id rotates anyway, data kept, so an
            # id known before the change (session fixation) is worthless after it.
            session.cycle_id()
        ttl = self._ttl(session)
        changes = session.changes()
        if old_id is not None and changes is not None:
            # Only what this request changed: a concurrent request's keys stay (docs/sessions.md,
            # "Concurrent requests of one session"). A new lifetime of its own moves the expiry
            # at once, rolling or not.
            target = self._target(session, now, ttl)
            life = session.lifetime_changed
            due = life or (self.rolling and self._extension_due(session, target, ttl))
            moved = target if due else None
            changed, removed = changes
            if life:
                done = await self.store.patch(
                    old_id,
                    changed,
                    removed,
                    expiry_date=moved,
                    lifetime=(session.idle_ttl, session.persistent),
                )
            else:
                done = await self.store.patch(old_id, changed, removed, expiry_date=moved)
            if not done:
                return None  # revoked or rotated meanwhile: stay so, keep the browser's cookie
            if self.metrics is not None:
                self.metrics.saved += 1
            seen = self._seen_due(session, now)
            if seen is not None:  # at most once per SESSION_LAST_SEEN_SECONDS
                await self.store.seen(old_id, seen)
            return self._set_cookie(old_id, session, moved or session.expiry_date, now, ttl)
        record = SessionRecord(
            id=old_id or "",  # a new session's id is drawn below, from its record
            data=session.to_dict(),
            expiry_date=now + ttl,
            tenant_id=session.tenant_id,
            last_seen=self._seen_due(session, now),
            idle_ttl=session.idle_ttl,
            persistent=session.persistent,
        )
        if self.track and (old_id is None or session.cycle_requested):
            record.last_seen = now
            self._describe_device(record, scope)
        if old_id is None or session.cycle_requested:
            # A new session, or a login: a new lifetime (the store's rules start its
            # absolute deadline now), rolling or not. The store draws the id: on a Redis
            # Cluster one signed in names its user's slot, so it reads in one GET whether it
            # was created signed in or signed in by a login (docs/stores.md, "Redis Cluster").
            record.id = self.store.new_id(record)
            if old_id is None:
                await self.store.create(record)
            elif not await self.store.rotate(old_id, record):
                return None  # revoked or rotated meanwhile: keep the browser's cookie
            session.absolute_expiry = record.absolute_expiry
            return self._set_cookie(record.id, session, record.expiry_date, now, ttl)
        # A change of the whole session that keeps its id (a Session subclass may ask for it).
        record.absolute_expiry = session.absolute_expiry
        extend = session.lifetime_changed or (
            self.rolling and self._extension_due(session, self._target(session, now, ttl), ttl)
        )
        if not extend and session.expiry_date is not None:
            record.expiry_date = session.expiry_date
        if not await self.store.update(record, extend_expiry=extend):
            return None  # revoked or rotated meanwhile: stay so, keep the browser's cookie
        if self.metrics is not None:
            self.metrics.saved += 1
        return self._set_cookie(record.id, session, record.expiry_date, now, ttl)

    def _nothing_due(self, session: Session) -> bool:
        """``_commit``'s "nothing to do" for the usual read-only request (loaded, unchanged,
        default lifetime, no device tracking) without its coroutine: ``_extension_due`` in one
        comparison, no clock when not rolling. ``False``: ask ``_commit``."""
        expiry = session.expiry_date
        if session.modified or self.track or session.id is None or expiry is None:
            return False
        if session.idle_ttl is not None or session.absolute_expiry is not None:
            return False
        return not self.rolling or utcnow() - expiry <= self._not_due

    def _ttl(self, session: Session) -> timedelta:
        """The session's idle TTL: its own (``set_expiry``) or ``SESSION_TTL_SECONDS``."""
        own = session.idle_ttl
        return self.ttl if own is None else timedelta(seconds=own)

    @staticmethod
    def _target(session: Session, now: datetime, ttl: timedelta) -> datetime:
        """Where activity now moves the expiry: ``ttl`` from now, never past the absolute
        deadline."""
        target = now + ttl
        deadline = session.absolute_expiry
        return deadline if deadline is not None and deadline < target else target

    def _set_cookie(
        self, session_id: str, session: Session, expiry: datetime | None, now: datetime,
        ttl: timedelta,
    ) -> bytes:  # fmt: skip
        """The cookie of a saved session: ``Max-Age`` is the session's TTL when rolling,
        else what is left of the fixed lifetime; never past the absolute deadline. A
        browser-session cookie (the setting, or the session's own ``persistent``) has none."""
        deadline, persistent = session.absolute_expiry, session.persistent
        if self.rolling or expiry is None:
            if deadline is None and session.idle_ttl is None and persistent is None:
                return self.cookie.set_header(session_id)  # the precomputed default
            age = int(ttl.total_seconds())
            if deadline is not None:
                age = min(age, int((deadline - now).total_seconds()))
            return self.cookie.set_header(session_id, max_age=age, persistent=persistent)
        age = int((expiry - now).total_seconds())
        return self.cookie.set_header(session_id, max_age=age, persistent=persistent)

    def _seen_due(self, session: Session, now: datetime) -> datetime | None:
        """``now`` when ``last_seen`` should be written with this request, else ``None``."""
        if not self.track:
            return None
        last = session.last_seen
        return now if last is None or now - last >= self.seen_every else None

    def _describe_device(self, record: SessionRecord, scope: Scope) -> None:
        """The client's ip (coarse when so configured) and ``User-Agent``, on ``record``."""
        address = client_ip(scope, self.trusted_proxies)
        if address is not None:
            record.ip = coarse(address) if self.coarse else str(address)
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value.decode("latin-1")[:USER_AGENT_LENGTH].replace("\x00", "")
                record.user_agent = agent or None
                break

    def _extension_due(self, session: Session, target: datetime, ttl: timedelta) -> bool:
        """Whether activity now would move the expiry by more than a tenth of the TTL.

        Reads and writes extend the expiry by the same rule, so the inactivity timeout is the
        TTL give or take a tenth, and most requests change no index entry. Near the absolute
        deadline the target stops there, so the expiry is written once more, then never.
        """
        expiry = session.expiry_date
        if expiry is None:
            return True
        if ttl is self.ttl:
            return target - expiry > self.touch_after
        return target - expiry > ttl * TOUCH_FRACTION

    def __repr__(self) -> str:
        return f"SessionMiddleware(store={self.store!r})"
