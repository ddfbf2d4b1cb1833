"""The in-memory store (``memory://``): :class:`.store.MemorySessionStore` (one session at a
time), its admin side (:mod:`.admin`) and the per-URL spaces it keeps sessions in (:mod:`.space`).
"""

from .space import forget
from .store import MemorySessionStore

__all__ = ["MemorySessionStore", "forget"]
