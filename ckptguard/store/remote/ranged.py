"""A read-only file over ranged GETs of one object version, for the content checks.

The checks (`store.local.formats`) read a zip's end, an HDF5 superblock or a table's
footer: a few small reads near the head or the tail. Each read fetches at least a block,
and blocks are kept, so a `.keras` object's zip end costs one ranged GET of its tail.
"""

from __future__ import annotations

import io
from collections.abc import Callable

BLOCK = 128 * 1024

# fetch(start, end) -> the object's bytes [start, end)
Fetch = Callable[[int, int], bytes]


class RangedFile(io.RawIOBase):
    def __init__(self, fetch: Fetch, size: int) -> None:
        self._fetch = fetch
        self._size = size
        self._pos = 0
        self._blocks: dict[int, bytes] = {}
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._bytes(self._pos, end)
        self._pos = end
        return data

    def _bytes(self, start: int, end: int) -> bytes:
        """Bytes [start, end), from blocks fetched before or fetched now (one request)."""
        first, last = start // BLOCK, (end - 1) // BLOCK
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:
            low = missing[0] * BLOCK
            high = min(self._size, (missing[-1] + 1) * BLOCK)
            fetched = self._fetch(low, high)
            self.requests += 1
            for index in range(missing[0], missing[-1] + 1):
                offset = index * BLOCK - low
                self._blocks[index] = fetched[offset : offset + BLOCK]
        joined = b"".join(self._blocks[b] for b in range(first, last + 1))
        return joined[start - first * BLOCK : end - first * BLOCK]

    def prefetch_tail(self, length: int = BLOCK) -> None:
        """Fetch the object's last `length` bytes in one request (a zip's end lives there)."""
        if self._size:
            self._bytes(max(0, self._size - length), self._size)
