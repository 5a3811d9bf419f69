"""A lease for guards on several hosts sharing one directory (NFS, Lustre...), where the
directory lock does not reach across hosts: the filesystem's own conditional write.

The leases live in a directory of their own on the shared filesystem, outside the guarded
one: one subdirectory per guarded directory, named from a digest of its path as the
guards name it (so every host must name it the same way). Each write creates the next
generation, `lease.<n>.json`, with `O_CREAT|O_EXCL`:
of several guards writing generation n at once, exactly one succeeds (exclusive create is
atomic on local filesystems and on NFSv3 and later). The newest generation is the lease;
a writer removes generations two behind its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re

from ckptguard.store.remote.lease import LeaseRecord, lease_body, recorded_since

_GENERATION = re.compile(r"lease\.([0-9]{1,18})\.json")


class DirectoryLease:
    def __init__(self, root: str, guarded: str) -> None:
        digest = hashlib.sha256(guarded.encode()).hexdigest()[:16]
        self.path = os.path.join(root, digest)
        os.makedirs(self.path, mode=0o755, exist_ok=True)

    @property
    def url(self) -> str:
        return self.path

    def read(self) -> LeaseRecord | None:
        """The newest generation; None when there is none."""
        generations = self._generations()
        if not generations:
            return None
        newest = max(generations)
        try:
            with open(os.path.join(self.path, f"lease.{newest}.json"), "rb") as handle:
                body = json.loads(handle.read(4096))
            return LeaseRecord(
                str(body["holder"]),
                float(body["duration"]),
                bool(body["released"]),
                str(newest),
                recorded_since(body),
            )
        except FileNotFoundError:
            return self.read()  # removed as stale right now: a newer one exists
        except (OSError, ValueError, KeyError, TypeError):
            # Being written this instant, or not ours: a version like any other.
            return LeaseRecord("?", 0.0, False, str(newest))

    def write(
        self,
        holder: str,
        duration: float,
        *,
        released: bool,
        version: str | None,
        since: float | None = None,
    ) -> str | None:
        """Create the generation after `version` (the first if None); None if taken."""
        generation = 1 if version is None else int(version) + 1
        body = lease_body(holder, duration, released=released, since=since)
        name = os.path.join(self.path, f"lease.{generation}.json")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        for old in self._generations():
            if old <= generation - 2:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.path, f"lease.{old}.json"))
        return str(generation)

    def _generations(self) -> list[int]:
        return [
            int(found.group(1))
            for found in map(_GENERATION.fullmatch, os.listdir(self.path))
            if found is not None
        ]
