"""structlog set-up: JSON lines for journald and log shippers (the default off a
terminal, and with `--log-format json`), short lines for people on a terminal."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Mapping
from typing import TextIO

import structlog

from ckptguard.face.terminal import TerminalRenderer, wants_colour


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


def renders_console(log_format: str, stream: TextIO | None = None) -> bool:
    """Whether `log_format` means lines for people: `console`, or `auto` on a terminal."""
    if log_format == "auto":
        return (stream or sys.stderr).isatty()
    return log_format == "console"


def configure(
    log_format: str = "auto",
    *,
    level: int | None = None,
    stream: TextIO | None = None,
    verbosity: int = 0,
    summary: Mapping[str, str] | None = None,
) -> None:
    """Route structlog events to `stream` (stderr) as JSON or console lines.

    `verbosity` -1 logs warnings and errors only; 1 adds every field to console lines.
    `summary` is each directory's policy in words, for the start-up summary.
    """
    stream = stream or sys.stderr
    console = renders_console(log_format, stream)
    renderer: structlog.typing.Processor = (
        TerminalRenderer(colour=wants_colour(stream), verbose=verbosity > 0, summary=summary)
        if console
        else structlog.processors.JSONRenderer()
    )
    if level is None:
        level = logging.WARNING if verbosity < 0 else logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(SafeStream(stream)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
