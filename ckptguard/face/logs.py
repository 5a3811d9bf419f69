"""structlog set-up: JSON lines for journald and log shippers, readable lines on a TTY."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TextIO

import structlog


class SafeStream:
    """A stream whose write errors (a full disk, a closed pipe) are dropped, not raised.

    Logging must never stop the guard that is there to free the disk.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()


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
            # JSON needs tracebacks as text; the console renderer formats them itself.
            *([structlog.processors.format_exc_info] if log_format == "json" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(SafeStream(stream)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
