"""The complete metadata: every module that defines tables, imported in one place.

Alembic and tests read :data:`metadata` from here so no table is forgotten.
"""

from __future__ import annotations

from signalbridge.store.base import Base

metadata = Base.metadata
