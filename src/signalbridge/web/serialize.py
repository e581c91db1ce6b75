"""Rows to JSON: decimals as strings (never floats), datetimes as ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from signalbridge.domain.signals import fmt_decimal


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def row_dict(row: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    columns = inspect(type(row)).columns
    return {c.key: jsonable(getattr(row, c.key)) for c in columns if c.key not in exclude}
