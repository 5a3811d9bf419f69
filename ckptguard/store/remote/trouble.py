"""An object store's errors, sorted for people: what they can fix, and what is passing."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

from ckptguard.store.remote.location import describe, is_remote


class RemoteTrouble(OSError):
    """The store could not be read: `fixable` when the user can fix it (no such bucket,
    credentials refused), not when it is passing (the server unreachable)."""

    def __init__(self, where: str, message: str, *, fixable: bool) -> None:
        super().__init__(errno.EIO, message)
        self.where = where
        self.fixable = fixable

    def __str__(self) -> str:
        return f"{self.where}: {self.strerror}"


def classify(where: str, error: BaseException) -> RemoteTrouble:
    """The error raised talking to `where`, in one line."""
    if isinstance(error, RemoteTrouble):
        return error
    if isinstance(error, FileNotFoundError):
        return RemoteTrouble(where, f"not found ({describe(error)})", fixable=True)
    if isinstance(error, PermissionError) or _denied(error):
        return RemoteTrouble(where, f"access refused ({describe(error)})", fixable=True)
    return RemoteTrouble(where, f"unreachable ({describe(error)})", fixable=False)


def _denied(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        response: Any = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                return True
        if "credentials" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def remote_trouble(spec: Any) -> Iterator[None]:
    """Errors from a remote store raised as one `RemoteTrouble`; a local one's untouched."""
    if not is_remote(spec.path):
        yield
        return
    try:
        yield
    except Exception as error:  # noqa: BLE001 - every SDK error becomes one line
        raise classify(spec.path, error) from None
