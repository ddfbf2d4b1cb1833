"""The shared store: PostgreSQL, for many app instances on many machines."""

from __future__ import annotations

from typing import ClassVar

from ...settings import StoreKind
from .store import SqlSessionStore


class PgSessionStore(SqlSessionStore):
    """Sessions in PostgreSQL (JSONB data, advisory-locked migrations and cleanup)."""

    kind: ClassVar[StoreKind] = "postgres"
