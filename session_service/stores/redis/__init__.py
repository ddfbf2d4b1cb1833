"""The Redis store: :class:`.store.RedisSessionStore` and its Lua scripts (:mod:`.scripts`).

Needs the ``redis`` extra (``pip install 'session-service[redis]'``); nothing else in the
package imports it, so SQLite and PostgreSQL users do without.
"""

from .store import RedisSessionStore

__all__ = ["RedisSessionStore"]
