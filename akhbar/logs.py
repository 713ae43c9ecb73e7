"""Structured logs: one JSON event per line on stderr, for collectors to parse.

Loggers are bound with the stage's name; events about one message carry its
topic, partition, offset, article id and url (the runner binds them). Library
log lines (kafka-python, opensearch-py, httpx) are rendered the same way.

Every event goes through `redact` last before rendering: passwords in URLs,
Authorization headers, API keys and fields named like secrets never reach a log
line, whatever a caller or a library put in it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from akhbar.config import LogSettings

MASK = "**********"
# Field names whose values are secrets whatever they hold ("author" is not one).
SECRET_KEY = re.compile(
    r"pass(word|wd)?$|password|secret|token|api_?key|authorization|cookie|credential|http_auth",
    re.IGNORECASE,
)
# Secrets inside free text: URL user info, auth schemes, auth headers, key-like query parameters.
SECRET_PATTERNS = (
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE), r"\1" + MASK + "@"),
    (
        re.compile(
            r"((?:proxy-)?authorization|x-api-key|api[_-]?key)(['\"]?\s*[:=]\s*['\"]?)"
            r"(?:(?:basic|bearer|apikey|token)\s+)?[^\s'\",;}&]+",
            re.IGNORECASE,
        ),
        r"\1\2" + MASK,
    ),
    (re.compile(r"\b(basic|bearer|apikey)\s+[a-z0-9._~+/=-]{6,}", re.IGNORECASE), r"\1 " + MASK),
    (
        re.compile(
            r"([?&](?:api_?key|access_token|token|password|secret|signature|sig)=)[^&\s#'\"]+",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
)
_PLAIN = (int, float, bool, type(None))
# Marks the stdlib handler this module installed, so configuring again replaces it.
_HANDLER_MARK = "_akhbar_handler"


def redact_text(text: str) -> str:
    """`text` with every secret pattern masked."""
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A log value with secrets masked; objects are rendered (repr) first, then masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {
            key: MASK if _is_secret_key(key, item) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    return redact_text(repr(value))


def _is_secret_key(key: Any, value: Any) -> bool:
    """A secret-named field holding something (numbers such as `token_count` are not secrets)."""
    return (
        isinstance(key, str)
        and not isinstance(value, _PLAIN)
        and SECRET_KEY.search(key) is not None
    )


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets in every field of the event."""
    return {
        key: MASK if _is_secret_key(key, value) else redact_value(value)
        for key, value in event.items()
    }


def configure_logging(settings: LogSettings) -> None:
    """Set up structlog and the standard library's logging (libraries log through it)."""
    level = logging.getLevelName(settings.level)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(shared, renderer)


def _route_stdlib_logging(shared: list[Any], renderer: Any) -> None:
    """Library records become the same one-line events, redacted.

    kafka-python is chatty at INFO about every connection; its warnings still show.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("akhbar").bind(**context)
