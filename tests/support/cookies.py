"""The session id a test client holds: stores keep only its hash (docs/security.md), so a
test that needs a session's id takes it from the cookie, as the middleware does (the signed
cookie is ``<id>.<signature>``)."""

from __future__ import annotations

from typing import Any


def session_id_of(client: Any, name: str = "session_id") -> str:
    """The id in ``client``'s session cookie (an httpx or Starlette test client)."""
    signed: str = client.cookies[name]
    return signed.strip('"').rpartition(".")[0]
