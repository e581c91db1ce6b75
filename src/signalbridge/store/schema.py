"""The complete metadata: every module that defines tables, imported in one place.

Alembic and tests read :data:`metadata` from here so no table is forgotten.
"""

from __future__ import annotations

# Imported for their side effect: each registers its tables on Base.metadata.
import signalbridge.store.models
import signalbridge.store.paper_tables  # noqa: F401
from signalbridge.store.base import Base

metadata = Base.metadata
