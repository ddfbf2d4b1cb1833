"""The admin operations of :class:`~.service.DefaultSessionService` ("sign this user out
everywhere", the devices page's listing and revoke, counts), kept apart from its wiring: each
is one call of the backend, whose store makes it one atomic, indexed operation."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from .backend import SessionStoreBackend
from .devices import SessionInfo, recency, session_info
from .web.session import Session, get_session


class UserAdmin:
    """What app code calls to end, list and count a user's sessions."""

    _backend: SessionStoreBackend

    async def sign_out_everywhere(self, request: HTTPConnection) -> int:
        """Sign the request's user out of every session in the request's tenant, this one
        included (its cookie is expired in this response); returns how many sessions ended.

        0 when the request is not signed in. Unlike :meth:`clear_sessions_for_user` with its
        default ``tenant_id=None`` (every tenant), this never touches another tenant's user
        who happens to have the same user id. A request without a tenant clears the user's
        sessions that have no tenant, and only those.
        """
        session = get_session(request)
        user = session.get("user_id")
        if user is None:
            return 0
        tenant, clear = session.tenant_id, self._backend.clear_sessions_for_user
        # One atomic store operation either way, so a login of this user that lands meanwhile
        # cannot slip between a listing and the deletes. tenant_id=None alone would mean
        # "every tenant"; untenanted_only is passed only when needed, so a store of your own
        # that predates it still serves requests with a tenant.
        if tenant is None:
            cleared = await clear(user, untenanted_only=True)
        else:
            cleared = await clear(user, tenant_id=tenant)
        session.flush()
        return cleared

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: Session | str | None = None,
    ) -> int:
        """Sign ``user_id`` out everywhere (in one tenant, or all); returns how many sessions.

        ``keep=request.session`` (or a session id) signs out every *other* device: the kept
        session must still be a live session of that user, else nothing is deleted. So when
        two devices of one user do this at the same moment, exactly one stays signed in.
        A ``Session`` that is not stored yet keeps nothing.
        """
        keep_id = keep.id if isinstance(keep, Session) else keep
        if keep_id is None:
            return await self._backend.clear_sessions_for_user(user_id, tenant_id=tenant_id)
        return await self._backend.clear_sessions_for_user(
            user_id, tenant_id=tenant_id, keep=keep_id
        )

    async def list_user_sessions(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        current: Session | str | None = None,
    ) -> list[SessionInfo]:
        """``user_id``'s live sessions, most recently seen first, for a "your devices" page.

        ``current`` (``request.session`` or an id) is marked ``current=True``. Device labels
        are made here, from the stored ``User-Agent``; ip, user agent and ``last_seen`` are
        ``None`` for sessions created while ``SESSION_TRACK_DEVICES`` was off.
        """
        current_id = current.id if isinstance(current, Session) else current
        records = await self._backend.list_sessions_for_user(user_id, tenant_id=tenant_id)
        # A listing names sessions by handle (ids are not stored): the current one's is read
        # after the listing, which gives a session stored before handles existed its handle.
        mine = None if current_id is None else await self._backend.load(current_id)
        current_handle = None if mine is None else mine.handle
        infos = [session_info(record, current_handle) for record in records]
        infos.sort(key=recency, reverse=True)
        return infos

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Sign out the one session of ``user_id`` named ``handle`` (from the listing).

        Returns ``False``, deleting nothing, when ``handle`` names no session of that user
        (another user's, an expired or a made-up one).
        """
        return await self._backend.revoke_user_session(user_id, handle, tenant_id=tenant_id)

    async def clear_all_sessions(self, *, tenant_id: str | None = None) -> int:
        """Sign everybody out (of one tenant, or all); returns how many sessions."""
        return await self._backend.clear_all_sessions(tenant_id=tenant_id)

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        """How many live sessions the user has (``tenant_id=None``: in every tenant)."""
        return await self._backend.count_sessions_for_user(user_id, tenant_id=tenant_id)

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        """The handles of the user's live sessions (``tenant_id=None``: in every tenant):
        ids are stored only as hashes, so none can be listed (docs/security.md)."""
        return await self._backend.get_session_ids_for_user(user_id, tenant_id=tenant_id)
