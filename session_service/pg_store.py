"""The shared store: PostgreSQL, for many app instances on many machines."""

from __future__ import annotations

from typing import ClassVar

from ._sql_store import SqlSessionStore
from .settings import StoreKind


class PgSessionStore(SqlSessionStore):
    """Sessions in PostgreSQL (JSONB data, advisory-locked migrations and cleanup)."""

    kind: ClassVar[StoreKind] = "postgres"
