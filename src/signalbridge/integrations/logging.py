"""structlog + stdlib logging set up once by the composition root, with redaction last.

Everything (our structlog events, httpx/httpcore/uvicorn stdlib records) ends in one
handler whose filter and processors scrub secrets, so no library's verbose output can leak
a key. Nothing happens at import: call :func:`configure_logging`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from signalbridge.integrations.redaction import (
    RedactingFilter,
    install_record_factory,
    structlog_processor,
)

_HANDLER_NAME = "signalbridge"


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        # Last before rendering: tracebacks are text by now, so they are scrubbed too.
        structlog_processor,
    ]


CHATTY_LOGGERS = ("taskiq", "alembic", "aiosqlite", "httpx", "httpcore", "uvicorn.access")


def configure_logging(
    level: str | int = "INFO", json: bool = True, *, stream: TextIO | None = None
) -> logging.Handler:
    """Route structlog and stdlib logging through one redacting handler on the root logger.

    Idempotent: a second call replaces the handler it installed before. Returns the handler.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level: {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    install_record_factory()
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Libraries that narrate every task, request or migration step speak only when something
    # is wrong, unless the operator asked for DEBUG.
    for chatty in CHATTY_LOGGERS:
        level = logging.NOTSET if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        logging.getLogger(chatty).setLevel(level)
    return handler
