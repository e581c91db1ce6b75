"""AI readings kept by the hash of the normalised message text: the same text costs one call.

Channels repeat themselves (a post forwarded to several channels, a template resent with
the same numbers); an AI reading of one is a reading of all. The key is the SHA-256 of the
text after NFKC, with invisible format characters (zero-width, bidi overrides, BOM) taken
out and every run of whitespace made one space, so copies that differ only in what a
reader cannot see share one entry. The prompt version is part of the key: a new prompt
asks again. Only valid readings are kept (a failure is never cached), and what is kept is
the canonical contract, read back through the domain's one reader.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import Parsed, parsed_from_dict
from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore

_WHITESPACE = re.compile(r"\s+")
#: Invisible characters that NFKC keeps; every other format (Cf) character goes too.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u061c\u180e")


def normalise(text: str) -> str:
    """The text as the cache sees it: NFKC, no invisible characters, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(c for c in folded if _visible(c))
    return _WHITESPACE.sub(" ", visible).strip()


def _visible(char: str) -> bool:
    if char.isspace():
        return True  # collapsed afterwards
    return char not in _INVISIBLE and unicodedata.category(char) not in ("Cf", "Cc", "Cs")


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text: the cache key and the ai_parses column."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReading:
    """A reading found in the cache: the contract, its confidence and who first gave it."""

    parsed: Parsed
    confidence: Decimal
    config_id: int | None
    model: str | None


async def lookup(session: AsyncSession, key: str, prompt_version: str) -> CachedReading | None:
    """The cached reading for ``key`` under this prompt, counted as a hit; None if there
    is none (or the stored one no longer reads: it is ignored, never trusted)."""
    row = await session.scalar(
        select(m.AICacheEntry).where(
            m.AICacheEntry.text_hash == key, m.AICacheEntry.prompt_version == prompt_version
        )
    )
    if row is None:
        return None
    reading = _read(row.answer, row.config_id, row.model)
    if reading is not None:
        await session.execute(
            update(m.AICacheEntry)
            .where(m.AICacheEntry.id == row.id)
            .values(hits=m.AICacheEntry.hits + 1)
            .execution_options(synchronize_session=False)
        )
    return reading


async def remember(
    session: AsyncSession,
    key: str,
    prompt_version: str,
    parsed: Parsed,
    confidence: Decimal,
    *,
    config_id: int | None,
    model: str | None,
) -> None:
    """Keep a valid reading; a reading already kept for the key wins (first one stays)."""
    await insert_ignore(
        session,
        m.AICacheEntry,
        {
            "text_hash": key,
            "prompt_version": prompt_version,
            "answer": {"parse": parsed.to_dict(), "confidence": str(confidence)},
            "config_id": config_id,
            "model": model,
            "hits": 0,
        },
        conflict=("text_hash", "prompt_version"),
    )


def _read(answer: Any, config_id: int | None, model: str | None) -> CachedReading | None:
    if not isinstance(answer, dict):
        return None
    try:
        parsed = parsed_from_dict(answer.get("parse"))
        confidence = Decimal(str(answer.get("confidence")))
    except (InvalidSignal, InvalidOperation, ValueError, TypeError):
        return None
    if not confidence.is_finite() or not Decimal(0) <= confidence <= Decimal(1):
        return None
    return CachedReading(parsed, confidence, config_id, model)
