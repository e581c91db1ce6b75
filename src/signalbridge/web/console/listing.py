"""Lists on pages: filters from the query string, newest first, paged like the API
(``before_id``), through the API's owner filter (services/access.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.web.console.errors import PageError
from signalbridge.web.params import MAX_ID

#: Rows per page.
PAGE = 50


def query_id(request: Request, name: str) -> int | None:
    """An optional id from the query string ('' is none); anything else is a 422 page."""
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 19 or not 1 <= int(value) <= MAX_ID:
        raise PageError(422, f"{name} must be a row id (a whole number from 1)")
    return int(value)


def query_text(request: Request, name: str, limit: int = 40) -> str | None:
    """An optional short text from the query string ('' is none)."""
    value = request.query_params.get(name, "").strip()
    if len(value) > limit:
        raise PageError(422, f"{name} may have at most {limit} characters")
    return value or None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its rows and the link to the older ones (None: no more)."""

    rows: list[Any]
    older: str | None


async def newest(
    session: AsyncSession,
    entity: access.Entity,
    who: Principal,
    path: str,
    shown: Mapping[str, Any],
    *conditions: ColumnElement[bool],
    before_id: int | None = None,
    limit: int = PAGE,
) -> Page:
    """The caller's rows of ``entity`` matching ``conditions``, newest first, ``limit`` of
    them before ``before_id``; ``shown`` (the filters as given) keeps the older link's."""
    model: Any = access.MODELS[entity]
    query: Any = select(model).order_by(model.id.desc()).limit(limit + 1)
    query = access.visible(query, entity, who)
    if before_id is not None:
        query = query.where(model.id < before_id)
    for condition in conditions:
        query = query.where(condition)
    rows = list((await session.scalars(query)).all())
    older = None
    if len(rows) > limit:
        rows = rows[:limit]
        kept = {k: v for k, v in shown.items() if v not in (None, "")}
        older = path + "?" + urlencode({**kept, "before_id": rows[-1].id})
    return Page(rows, older)


def equal(model: Any, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """``column == value`` for every filter given."""
    return [getattr(model, k) == v for k, v in filters.items() if v is not None]


async def names_of(
    session: AsyncSession, entity: access.Entity, ids: Iterable[int], who: Principal
) -> dict[int, str]:
    """The names of the channels or connections with ``ids`` that the caller sees."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    model: Any = access.MODELS[entity]
    query: Any = select(model.id, model.name).where(model.id.in_(wanted))
    rows = await session.execute(access.visible(query, entity, who))
    return {int(i): str(n) for i, n in rows.all()}
