"""The demo's pages: plain HTML around examples/demo.css, every value escaped.

Kept apart from the handlers (``examples/demo.py``) so those stay a few lines each.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

from starlette.responses import HTMLResponse

from session_service.devices import SessionInfo

CSS = (Path(__file__).with_name("demo.css")).read_text(encoding="utf-8")

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · session-service demo</title>
<link rel="stylesheet" href="/demo.css">
</head>
<body>
<header class="top"><div class="inner">
<a class="brand" href="/">session-service <span>demo</span></a>
<nav>{nav}</nav>
</div></header>
<main>{body}</main>
</body>
</html>"""

_PHONE = (
    '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" '
    'aria-hidden="true"><rect x="6" y="2" width="12" height="20" rx="2"/>'
    '<path d="M11 18h2"/></svg>'
)
_COMPUTER = (
    '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" '
    'aria-hidden="true"><rect x="3" y="4" width="18" height="12" rx="2"/>'
    '<path d="M2 20h20"/></svg>'
)
_MOBILE_SYSTEMS = ("on Android", "on iOS", "on iPadOS")


def page(title: str, body: str, *, user: str | None = None, status: int = 200) -> HTMLResponse:
    nav = (
        '<a href="/">Account</a><a href="/sessions">Your devices</a>'
        if user is not None
        else '<a href="/">Sign in</a>'
    )
    html = _LAYOUT.format(title=escape(title), nav=nav, body=body)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def sign_in(error: str | None = None, status: int = 200, name: str = "") -> HTMLResponse:
    alert = f'<div class="notice error" role="alert">{escape(error)}</div>' if error else ""
    body = f"""<h1>Sign in</h1>
<p class="lead">A demo of server-side sessions you can see and revoke.</p>
{alert}<div class="card pad">
<form method="post" action="/login">
<label>Name <input name="name" value="{escape(name)}" required maxlength="100"
 autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" required
 autocomplete="current-password"></label>
<label class="check"><input name="remember" type="checkbox" value="1"> Remember me for 30
 days</label>
<button type="submit">Sign in</button>
</form>
<p class="hint">This is a demo: any name works, and the password is <code>demo</code>.
Three wrong passwords lock that name on your address for five minutes, and
<a href="/ping">/ping</a> allows 5 requests per 10 seconds.
Without “Remember me” the session ends when the browser closes, or after two idle hours.
Sign in from two browsers (or a private window) to see both under “Your devices”.</p>
</div>"""
    return page("Sign in", body, status=status)


def account(user: str, visits: int) -> HTMLResponse:
    body = f"""<h1>Signed in as <strong>{escape(user)}</strong></h1>
<p class="lead">You have opened this page {visits} time{"s" if visits != 1 else ""} in this
session.</p>
<div class="card pad">
<p>Every browser you sign in with gets its own session. See them, and sign them out, under
<a href="/sessions">Your devices</a>.</p>
<div class="actions">
<form class="inline" method="post" action="/logout">
<button class="secondary" type="submit">Sign out</button></form>
</div></div>"""
    return page("Account", body, user=user)


def ago(when: datetime | None, now: datetime) -> str:
    """ "just now", "5 minutes ago", "3 hours ago", "2 days ago"."""
    if when is None:
        return "a while ago"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _row(info: SessionInfo, now: datetime) -> str:
    icon = _PHONE if info.device.endswith(_MOBILE_SYSTEMS) else _COMPUTER
    when = info.last_seen or info.created_at
    exact = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "unknown"
    iso = when.isoformat(timespec="seconds") if when else ""
    if info.current:
        activity = f'<time datetime="{iso}" title="{exact}">Active now</time>'
        badge = '<span class="badge">This device</span>'
        action = ""
    else:
        activity = f'<time datetime="{iso}" title="{exact}">Active {ago(when, now)}</time>'
        badge = ""
        action = (
            '<form class="inline" method="post" action="/sessions/revoke">'
            f'<input type="hidden" name="handle" value="{escape(info.handle)}">'
            f'<button class="secondary small" type="submit" '
            f'aria-label="Sign out {escape(info.device)}">Sign out</button></form>'
        )
    ip = escape(info.ip) if info.ip else "unknown address"
    return (
        f'<li data-handle="{escape(info.handle)}"><div class="icon">{icon}</div>'
        f'<div class="what"><div class="device">{escape(info.device)}{badge}</div>'
        f'<div class="meta">{ip} · {activity}</div>{_ends(info)}</div>{action}</li>'
    )


def _stamp(label: str, when: datetime, css: str) -> str:
    exact = when.strftime("%Y-%m-%d %H:%M UTC")
    iso = when.isoformat(timespec="seconds")
    # <data>, not <time>: each row's one <time> is its last activity.
    return f'<span class="{css}">{label} <data value="{iso}">{exact}</data></span>'


def _ends(info: SessionInfo) -> str:
    """When the session ends if left alone, and at the latest however much it is used."""
    parts = [_stamp("Idle until", info.expiry_date, "idle-end")]
    if info.absolute_expiry is not None:
        parts.append(_stamp("Signed out by", info.absolute_expiry, "absolute-end"))
    return f'<div class="meta ends">{" · ".join(parts)}</div>'


def devices(user: str, infos: list[SessionInfo], now: datetime, notice: str | None) -> HTMLResponse:
    # This device first, then the others, most recently active first (the service's order).
    rows = "".join(_row(info, now) for info in sorted(infos, key=lambda i: not i.current))
    others = len(infos) - sum(info.current for info in infos)
    flash = f'<div class="notice" role="status">{escape(notice)}</div>' if notice else ""
    disabled = "" if others else " disabled"
    body = f"""<h1>Your devices</h1>
<p class="lead">You are signed in as <strong>{escape(user)}</strong> on {len(infos)}
device{"s" if len(infos) != 1 else ""}. Don't recognise one? Sign it out.</p>
{flash}<div class="card"><ul class="devices">{rows}</ul></div>
<div class="actions">
<form class="inline" method="post" action="/sessions/revoke-others">
<button class="secondary" type="submit"{disabled}>Sign out other devices</button></form>
<form class="inline" method="post" action="/sessions/revoke-all">
<button class="danger" type="submit">Sign out everywhere</button></form>
</div>"""
    return page("Your devices", body, user=user)
