""" "Your devices": what a listing of a user's sessions shows, and the device labels in it.

A label is read from the ``User-Agent`` only when sessions are listed, never per request: the
hot path stores the header as it came (cut to 512 characters) and nothing else. Parsing uses
``ua-parser`` (the maintained Python port of the uap-core rules that browsers' vendors and
analytics tools keep up to date), so new browsers are recognised by upgrading
``ua-parser-builtins``, not by editing regexes here. Parses are cached: a user's listing
repeats the same few user agents.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime

from ua_parser import parse_os, parse_user_agent

from .records import SessionRecord
from .storable import HANDLE_LENGTH, IP_LENGTH, USER_AGENT_LENGTH

__all__ = [
    "HANDLE_LENGTH",
    "IP_LENGTH",
    "USER_AGENT_LENGTH",
    "SessionInfo",
    "device_label",
    "new_handle",
]

UNKNOWN_BROWSER = "Unknown browser"

# uap-core's family names, as a person would say them ("Mobile Safari" is Safari on a phone).
_BROWSERS = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Android WebView",
    "HeadlessChrome": "Headless Chrome",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
_SYSTEMS = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}


def new_handle() -> str:
    """A public name for one session: random (96 bits), stored with it, never derived from the
    id, so it can be shown in a page and posted back without revealing or forging a cookie.

    Never starts with ``-``, so ``session-service revoke USER HANDLE`` cannot read it as an
    option (one draw in 64 would); the redraw costs under 0.03 bits of the 96."""
    while (handle := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return handle


@functools.lru_cache(maxsize=1024)
def device_label(user_agent: str | None) -> str:
    """A readable label: "Firefox on Windows", "Safari on iOS", or "Unknown browser"."""
    if not user_agent:
        return UNKNOWN_BROWSER
    agent = parse_user_agent(user_agent)
    system = parse_os(user_agent)
    browser = _BROWSERS.get(agent.family, agent.family) if agent is not None else None
    os_name = _SYSTEMS.get(system.family, system.family) if system is not None else None
    if browser is None or browser == "Other":
        browser = UNKNOWN_BROWSER
    if os_name is None or os_name == "Other":
        return browser
    return f"{browser} on {os_name}"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One of a user's sessions, as a "your devices" page shows it.

    ``handle`` names the session for :meth:`DefaultSessionService.revoke_user_session`; it is
    not the id and is useless as a cookie. ``ip``, ``user_agent`` and ``last_seen`` are
    ``None`` unless ``SESSION_TRACK_DEVICES`` was on when the session was created (and, for
    ``last_seen``, used). ``current`` marks the session the listing was asked for.
    ``expiry_date`` is when it ends unless used again (the earlier of its idle and absolute
    deadlines); ``absolute_expiry`` when it ends however active (``None``: no
    ``SESSION_ABSOLUTE_TTL_SECONDS``).
    """

    handle: str
    created_at: datetime | None
    last_seen: datetime | None
    expiry_date: datetime
    ip: str | None
    user_agent: str | None
    device: str
    current: bool
    absolute_expiry: datetime | None = None


def session_info(record: SessionRecord, current_handle: str | None) -> SessionInfo:
    """The "your devices" entry of a listed session (``current`` when it is the session
    named ``current_handle``: a listing has handles, not ids)."""
    assert record.handle is not None, "stores give every listed session a handle"
    return SessionInfo(
        handle=record.handle,
        created_at=record.created_at,
        last_seen=record.last_seen,
        expiry_date=record.expiry_date,
        ip=record.ip,
        user_agent=record.user_agent,
        device=device_label(record.user_agent),
        current=current_handle is not None and record.handle == current_handle,
        absolute_expiry=record.absolute_expiry,
    )


def recency(info: SessionInfo) -> tuple[float, float]:
    """Most recently seen first; sessions never seen (tracking off) by creation time."""
    seen = info.last_seen or info.created_at
    created = info.created_at
    return (seen.timestamp() if seen else 0.0, created.timestamp() if created else 0.0)
