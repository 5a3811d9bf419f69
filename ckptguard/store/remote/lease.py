"""The lease object that elects one deleter among guards of the same prefix, written with
the store's own conditional writes and nothing else.

S3: `If-None-Match: *` creates it only if absent; `If-Match: <ETag>` replaces it only if
it is still the version read. GCS: `ifGenerationMatch=0` and `ifGenerationMatch=<gen>`.
A write whose condition fails means someone else wrote first: `None`, never an error.
The lease of `s3://bucket/prefix` is the object `s3://bucket/.ckptguard/lease/prefix`.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ckptguard.store.remote.location import Location, RemoteError
from ckptguard.store.remote.objects import precondition_failed, read_body
from ckptguard.store.remote.trash import guard_location

CONDITIONAL = frozenset({"s3", "s3a", "gs", "gcs"})


@dataclass(frozen=True)
class LeaseRecord:
    """What the lease says, and the version it was read at (ETag or generation)."""

    holder: str
    duration: float
    released: bool
    version: str
    # When the holder took the lease, by its own wall clock (None: not recorded). Shown
    # in `ckptguard status`, never used to decide anything: no clocks are compared.
    since: float | None = None


class LeaseObject:
    """Conditional reads and writes of one lease object."""

    def __init__(self, fs: Any, location: Location) -> None:
        if location.scheme not in CONDITIONAL:
            raise RemoteError(f"{location.scheme}:// has no conditional writes to hold a lease")
        self.fs = fs
        self.where = guard_location(location, "lease")
        self.s3 = location.scheme in ("s3", "s3a")

    @property
    def url(self) -> str:
        return self.where.url

    def read(self) -> LeaseRecord | None:
        """The lease as it is now; None when there is none."""
        try:
            data, version = self._get()
        except FileNotFoundError:
            return None
        try:
            body = json.loads(data)
            return LeaseRecord(
                str(body["holder"]),
                float(body["duration"]),
                bool(body["released"]),
                version,
                recorded_since(body),
            )
        except (ValueError, KeyError, TypeError):
            # Not ours to read: a guard may take it over once it has not changed for long.
            return LeaseRecord("?", 0.0, False, version)

    def write(
        self,
        holder: str,
        duration: float,
        *,
        released: bool,
        version: str | None,
        since: float | None = None,
    ) -> str | None:
        """Write the lease if it is still at `version` (None: if there is none); its new
        version, or None when someone else wrote first."""
        body = json.dumps(lease_body(holder, duration, released=released, since=since))
        try:
            return self._put(body.encode(), version)
        except FileExistsError:
            return None
        except Exception as error:
            if precondition_failed(error):
                return None
            raise

    def _get(self) -> tuple[bytes, str]:
        key = self.where.prefix
        if self.s3:
            response = self.fs.call_s3("get_object", Bucket=self.where.bucket, Key=key)
            return read_body(self.fs, response), str(response["ETag"])
        path = f"{self.where.bucket}/{key}"
        generation = str(self.fs.info(path, refresh=True)["generation"])
        data = bytes(self.fs.cat_file(path))
        if str(self.fs.info(path, refresh=True)["generation"]) != generation:
            return b"", "changed"  # rewritten while read: looks changed, read again later
        return data, generation

    def _put(self, body: bytes, version: str | None) -> str:
        key = self.where.prefix
        if self.s3:
            condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
            response = self.fs.call_s3(
                "put_object", Bucket=self.where.bucket, Key=key, Body=body, **condition
            )
            return str(response["ETag"])
        return _gcs_put(self.fs, self.where.bucket, key, body, version)


def lease_body(
    holder: str, duration: float, *, released: bool, since: float | None
) -> dict[str, Any]:
    """What a lease holds. A fresh nonce each time: S3's ETag is the content's MD5, and a
    renewal that wrote the same bytes would look to standbys like no renewal at all."""
    body: dict[str, Any] = {"holder": holder, "duration": duration, "released": released}
    if since is not None:
        body["since"] = since
    body["nonce"] = secrets.token_hex(8)
    return body


def recorded_since(body: dict[str, Any]) -> float | None:
    """The holder's `since`, if the lease records one as a finite number."""
    since = body.get("since")
    if isinstance(since, (int, float)) and not isinstance(since, bool) and math.isfinite(since):
        return float(since)
    return None


def _gcs_put(fs: Any, bucket: str, key: str, body: bytes, version: str | None) -> str:
    """A multipart upload (the object's name, then its bytes) with `ifGenerationMatch`
    (0: only if absent); its new generation. Multipart, as gcsfs uploads small objects:
    GCS honours the condition on every upload type, its emulators on this one."""
    from fsspec.asyn import sync

    boundary = f"ckptguard-{secrets.token_hex(8)}"
    metadata = json.dumps({"name": key})
    head = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}"
        f"\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n"
    )
    data = head.encode() + body + f"\r\n--{boundary}--\r\n".encode()

    async def upload() -> Any:
        return await fs._call(
            "POST",
            f"{fs._location}/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            uploadType="multipart",
            ifGenerationMatch=version or "0",
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
            data=data,
            json_out=True,
        )

    result = sync(fs.loop, upload)
    return str(result["generation"])
