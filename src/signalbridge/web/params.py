"""Shared request parameter types: ids bounded to what the store's BIGINT columns hold.

An id past 64 bits once reached the database driver and came back as a 500
(``OverflowError``), even on routes a caller had no right to use. Every path, query and
body id is an :data:`Id`, so such a request is a 422 before any handler runs.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

MAX_ID: Final = 2**63 - 1
"""The largest value a BIGINT primary key holds (SQLite's INTEGER holds the same)."""

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id: 1 .. 2**63 - 1. Works in paths, queries and body models alike."""
