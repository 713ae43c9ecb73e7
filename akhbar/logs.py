"""Structured logs: one JSON event per line on stderr, for collectors to parse.

Loggers are bound with the stage's name; events about one message carry its
topic, partition, offset, article id and url (the runner binds them).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from akhbar.config import LogSettings


def configure_logging(settings: LogSettings) -> None:
    """Set up structlog and the standard library's logging (libraries log through it)."""
    level = logging.getLevelName(settings.level)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # kafka-python is chatty at INFO about every connection; its warnings still show.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("akhbar").bind(**context)
