"""Objects under a prefix, as fsspec lists and reads them: key, size, version, time.

A listing is one paginated request sequence (no delimiter), so a prefix of many
thousands of objects costs what listing it costs. An object's *version* is what tells
one upload from another under the same key: its ETag (S3), its generation (GCS), else
whatever the filesystem gives (checksum, modification time).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ckptguard.core.model import FileIdentity
from ckptguard.store.remote.location import Location

# GCS' generation comes before its etag: reads ask for that generation.
_VERSION_FIELDS = ("ETag", "generation", "etag", "md5Hash", "crc32c", "checksum")
_TIME_FIELDS = ("LastModified", "updated", "mtime", "last_modified", "created", "timeCreated")
# Precondition failures as S3, GCS and their emulators name them.
# Filesystems whose find() takes a key prefix to list (a stem, not a directory).
_STEM_LISTING = frozenset({"s3", "s3a", "gs", "gcs"})
_PRECONDITION = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


@dataclass(frozen=True)
class ObjectInfo:
    """One object: its name relative to the guarded prefix, size, version and time."""

    name: str
    size: int
    version: str
    mtime_ns: int


class ObjectChanged(Exception):
    """An object is no longer the version asked for (a conditional request failed)."""


def list_objects(fs: Any, location: Location, stem: str = "") -> dict[str, ObjectInfo]:
    """Every object below the prefix whose relative name starts with `stem`, by name.

    S3 and GCS list only the keys starting with `<prefix>/<stem>`; other filesystems
    list the prefix and filter.
    """
    fs.invalidate_cache()
    top = location.root
    if stem and location.scheme in _STEM_LISTING:
        found = fs.find(top, detail=True, withdirs=False, prefix=stem)
    else:
        found = fs.find(top, detail=True, withdirs=False)
    objects: dict[str, ObjectInfo] = {}
    for full, info in found.items():
        name = str(full)[len(top) :].lstrip("/") if str(full).startswith(top + "/") else ""
        if not name or not name.startswith(stem) or info.get("type") == "directory":
            continue
        objects[name] = ObjectInfo(
            name, int(info.get("size") or 0), version_of(info), time_of(info)
        )
    return objects


def version_of(info: dict[str, Any]) -> str:
    for field in _VERSION_FIELDS:
        value = info.get(field)
        if value not in (None, ""):
            return str(value)
    return f"{info.get('size')}@{time_of(info)}"


def time_of(info: dict[str, Any]) -> int:
    """Nanoseconds since the epoch of the object's last write; 0 when unknown."""
    for field in _TIME_FIELDS:
        value = info.get(field)
        if isinstance(value, datetime.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value * 1e9) if value < 1e12 else int(value)
        if isinstance(value, str) and value:
            try:
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return int(parsed.timestamp() * 1e9)
    return 0


def identity_of(objects: Iterable[ObjectInfo]) -> FileIdentity:
    """One identity for a set of objects: their total size, newest time, and a digest of
    every (name, size, version), so any upload, removal or replacement shows."""
    listed = sorted(objects, key=lambda o: o.name)
    digest = hashlib.sha256(repr([(o.name, o.size, o.version) for o in listed]).encode())
    return FileIdentity(
        device=0,
        inode=int.from_bytes(digest.digest()[:8], "big") >> 1,
        size=sum(o.size for o in listed),
        mtime_ns=max((o.mtime_ns for o in listed), default=0),
    )


def read_range(fs: Any, location: Location, obj: ObjectInfo, start: int, end: int) -> bytes:
    """Bytes [start, end) of `obj`, only if it is still the version listed (where the
    store can tell: S3's If-Match, GCS' generation); ObjectChanged otherwise."""
    key = location.key(obj.name)
    if end <= start:
        return b""
    if location.scheme in ("s3", "s3a") and hasattr(fs, "call_s3"):
        try:
            response = fs.call_s3(
                "get_object",
                Bucket=location.bucket,
                Key=key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=obj.version,
            )
        except OSError as error:
            if precondition_failed(error) or isinstance(error, FileNotFoundError):
                raise ObjectChanged(obj.name) from None
            raise
        return read_body(fs, response)
    # The generation listed, which a bucket without versioning keeps while it is current.
    exact = {"generation": obj.version} if location.scheme in ("gs", "gcs") else {}
    try:
        return bytes(fs.cat_file(f"{location.bucket}/{key}", start=start, end=end, **exact))
    except FileNotFoundError:
        raise ObjectChanged(obj.name) from None


def read_current(fs: Any, location: Location, name: str, limit: int) -> bytes:
    """At most `limit` bytes of object `name` as it is now; FileNotFoundError if absent."""
    data = fs.cat_file(f"{location.bucket}/{location.key(name)}", start=0, end=limit)
    return bytes(data)


def read_body(fs: Any, response: dict[str, Any]) -> bytes:
    """The body of an aiobotocore response, read on the filesystem's event loop."""
    from fsspec.asyn import sync

    async def read() -> bytes:
        body = response["Body"]
        try:
            return bytes(await body.read())
        finally:
            body.close()

    return bytes(sync(fs.loop, read))


def precondition_failed(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a failed precondition (HTTP 412/409)."""
    seen: BaseException | None = error
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _PRECONDITION or status in _PRECONDITION:
                return True
        if getattr(seen, "code", None) in (412, 409):
            return True
        if "pre-condition" in str(seen).lower() or "precondition" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def delete_keys(fs: Any, location: Location, names: list[str]) -> None:
    """Delete objects in batches (S3's DeleteObjects takes 1,000 keys a request); a key
    already gone is no error. OSError when the store refused any of them."""
    for start in range(0, len(names), 1000):
        batch = names[start : start + 1000]
        if location.scheme in ("s3", "s3a") and hasattr(fs, "call_s3"):
            response = fs.call_s3(
                "delete_objects",
                Bucket=location.bucket,
                Delete={"Objects": [{"Key": location.key(n)} for n in batch], "Quiet": True},
            )
            refused = response.get("Errors") or []
            if refused:
                first = refused[0]
                raise OSError(errno.EIO, f"{first.get('Key')}: {first.get('Message')}")
            continue
        for name in batch:
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(f"{location.bucket}/{location.key(name)}")


def unreachable(error: BaseException) -> OSError:
    """An SDK error as an OSError the guard reports in one line."""
    if isinstance(error, OSError):
        return error
    return OSError(errno.EIO, str(error) or type(error).__name__)
