"""Where a remote store is: a URL such as `s3://bucket/prefix`, and its filesystem.

Nothing here imports fsspec until a filesystem is asked for: a local guard never loads it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

# A scheme followed by `://`: `s3://`, `gs://`, `gcs://`, `memory://`... (not `C:\`).
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.*)", re.IGNORECASE)
# Extras that bring a scheme's filesystem, for the message when it is missing.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
# Schemes that are no object store: a local path given as a URL is guarded as a directory.
_LOCAL = frozenset({"file", "local"})


class RemoteError(Exception):
    """A remote store cannot be used: one line saying why (never a secret)."""


def redacted(path: str) -> str:
    """`path` as it may be shown: a URL's user and password (if any) replaced by `***`."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1***@", path)


def is_remote(path: str) -> bool:
    """Whether `path` names an object store (a URL with a scheme) rather than a directory."""
    found = _URL.fullmatch(path)
    return found is not None and found.group("scheme").lower() not in _LOCAL


@dataclass(frozen=True)
class Location:
    """A parsed remote URL: its scheme, bucket and the prefix below it (no slashes at ends)."""

    url: str
    scheme: str
    bucket: str
    prefix: str

    @property
    def root(self) -> str:
        """The path fsspec takes for the prefix: `bucket/prefix`."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def key(self, name: str) -> str:
        """The object key (inside the bucket) of `name`, relative to the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name


def parse(url: str) -> Location:
    """The location `url` names; RemoteError for a URL that cannot be guarded."""
    found = _URL.fullmatch(url)
    if found is None:
        raise RemoteError(f"{url}: not a URL (expected e.g. s3://bucket/prefix)")
    scheme, rest = found.group("scheme").lower(), found.group("rest")
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        # Credentials in a URL would end up in logs: they come from the SDK's chain.
        raise RemoteError(
            f"{scheme}://...: credentials or ports do not belong in the URL; use the SDK's "
            "usual configuration (AWS_PROFILE, AWS_ENDPOINT_URL_S3, ...)"
        )
    if not bucket:
        raise RemoteError(f"{url}: no bucket")
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise RemoteError(f"{url}: empty, '.' or '..' path components")
    return Location(url.rstrip("/"), scheme, bucket, prefix)


def filesystem(location: Location) -> Any:
    """The fsspec filesystem of `location`, fresh (no cached instance, no cached listings)."""
    try:
        import fsspec
    except ImportError:
        raise RemoteError(_missing(location.scheme)) from None
    _quiet_sdk_loggers()
    try:
        cls = fsspec.get_filesystem_class(location.scheme)
    except (ImportError, ValueError):
        raise RemoteError(_missing(location.scheme)) from None
    try:
        fs = cls(skip_instance_cache=True, use_listings_cache=False, **_bounded(location.scheme))
    except Exception as error:  # noqa: BLE001 - an SDK's own configuration error
        raise RemoteError(f"{location.url}: {describe(error)}") from None
    if location.scheme in ("s3", "s3a"):
        fs.retries = 2  # s3fs' own retries, on top of botocore's
    return fs


def _bounded(scheme: str) -> dict[str, Any]:
    """Timeouts and retries that keep one request from holding the loop for minutes: an
    unreachable store is tried again by the guard's own backoff, and a stop request is
    honoured between requests."""
    if scheme in ("s3", "s3a"):
        config = {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 3}}
        return {"config_kwargs": config}
    if scheme in ("gs", "gcs"):
        return {"requests_timeout": 30}
    return {}


def _quiet_sdk_loggers() -> None:
    """The SDKs log retries with tracebacks; the guard says what failed in one line itself."""
    # asyncio too: fsspec runs the SDKs on an event loop of its own, whose unretrieved
    # exceptions it would print with tracebacks.
    quiet = ("fsspec", "s3fs", "gcsfs", "aiobotocore", "botocore", "aiohttp", "asyncio", "google")
    for name in quiet:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _missing(scheme: str) -> str:
    extra = EXTRAS.get(scheme)
    if extra is not None:
        return f"{scheme}:// needs the {extra} extra: pip install 'ckptguard[{extra}]'"
    return f"{scheme}:// has no filesystem installed (fsspec knows none by that name)"


def describe(error: BaseException) -> str:
    """One line for an SDK's error: its message, without tracebacks or request ids."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"\s*\(Request ?ID[^)]*\)", "", text, flags=re.IGNORECASE)[:300]
