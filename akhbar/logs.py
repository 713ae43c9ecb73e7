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
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries' records in the same format, so a collector sees kafka-python's
    # "Connection failed" during a broker outage as an event with its level, not
    # as a stray text line. kafka-python is chatty at INFO about every connection;
    # its warnings still show.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    # Replace only our own handler: a second configuration must not print twice,
    # and handlers others installed (a test runner's) stay.
    for old in [h for h in root.handlers if getattr(h, "akhbar", False)]:
        root.removeHandler(old)
    handler.akhbar = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is when a record arrives: the command-line tests swap
    it per invocation, and a stream kept from an earlier one would be closed."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """The stream is always the current sys.stderr."""


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("akhbar").bind(**context)
