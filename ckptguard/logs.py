"""structlog set-up: JSON lines for journald and log shippers, readable lines on a TTY."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(
    log_format: str = "auto", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Route structlog events to `stream` (stderr) as JSON or console lines."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
