"""A stand-in for a training job: saves `.keras`-style zips the way Keras does.

Each save opens the final path and streams the archive into it in chunks (no temp file,
no rename), as Keras 3 does. Exits 0 after all saves, 28 (ENOSPC) when the disk fills.
With --keep-in-process N it also deletes the oldest beyond N after each save, the fix
that lived inside the training script.

Saves come one after the other, --train-pause seconds apart (0: back to back, the next
save opens the moment the previous one closed). With --in-flight N (N > 1) they overlap
as with asynchronous checkpointing: up to N saves are open at once, each streamed at the
same pace of one chunk per --chunk-pause, a new one starting once the previous one has
written 1/N of its chunks (so their ends are spread evenly); --train-pause is not used.

Prints `saving checkpoint: PATH` as each save opens, and `unlinked while written: PATH`
for a save whose file someone deleted before it was closed (its checkpoint is lost).

    python bench/trainer.py --dir D --saves 20 --size 1048576
    python bench/trainer.py --dir D --saves 20 --size 1048576 --in-flight 4
"""

from __future__ import annotations

import argparse
import collections
import errno
import io
import math
import os
import sys
import time
import zipfile
from typing import BinaryIO


def checkpoint_bytes(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", os.urandom(size))
    return buffer.getvalue()


def stagger(chunks: int, in_flight: int) -> int:
    """Chunks between the starts of overlapping saves: their ends spread evenly."""
    return math.ceil(chunks / in_flight)


class Save:
    """One checkpoint being streamed into its final path, a chunk at a time."""

    def __init__(self, path: str, chunks: list[bytes]) -> None:
        print(f"saving checkpoint: {path}", flush=True)
        self.path = path
        self._chunks = chunks
        self._next = 0
        self._handle: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write_next(self) -> bool:
        """Write the next chunk; True once the last one is written."""
        self._handle.write(self._chunks[self._next])
        self._handle.flush()
        self._next += 1
        return self._next == len(self._chunks)

    def close(self) -> None:
        if os.fstat(self._handle.fileno()).st_nlink == 0:
            print(f"unlinked while written: {self.path}", flush=True)
        self._handle.close()


class Trainer:
    def __init__(self, args: argparse.Namespace) -> None:
        data = checkpoint_bytes(args.size)
        self.chunks = [data[i : i + args.chunk] for i in range(0, len(data), args.chunk)]
        self.args = args
        self.saved: list[str] = []

    def path(self, index: int) -> str:
        step = self.args.first_step + index * self.args.step_every
        return os.path.join(self.args.dir, f"checkpoint_step_{step}.keras")

    def finished(self, save: Save) -> None:
        save.close()
        self.saved.append(save.path)
        while self.args.keep_in_process and len(self.saved) > self.args.keep_in_process:
            os.unlink(self.saved.pop(0))

    def one_at_a_time(self) -> None:
        for index in range(self.args.saves):
            save = Save(self.path(index), self.chunks)
            while not save.write_next():
                time.sleep(self.args.chunk_pause)
            if self.args.chunk_pause:
                time.sleep(self.args.chunk_pause)
            self.finished(save)
            if self.args.train_pause:
                time.sleep(self.args.train_pause)

    def overlapping(self, in_flight: int) -> None:
        """Up to `in_flight` saves open at once, started `gap` chunks apart."""
        gap = stagger(len(self.chunks), in_flight)
        open_saves: collections.deque[Save] = collections.deque()
        started = 0
        since_start = gap
        while started < self.args.saves or open_saves:
            if started < self.args.saves and len(open_saves) < in_flight and since_start >= gap:
                open_saves.append(Save(self.path(started), self.chunks))
                started += 1
                since_start = 0
            for save in list(open_saves):
                if save.write_next():
                    open_saves.remove(save)
                    self.finished(save)
            since_start += 1
            time.sleep(self.args.chunk_pause)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--size", type=int, default=1 << 20, help="payload bytes per checkpoint")
    parser.add_argument("--chunk", type=int, default=64 << 10)
    parser.add_argument("--chunk-pause", type=float, default=0.002, help="seconds per chunk")
    parser.add_argument("--train-pause", type=float, default=0.02, help="seconds between saves")
    parser.add_argument("--in-flight", type=int, default=1, help="saves open at once (1)")
    parser.add_argument("--keep-in-process", type=int, default=0)
    parser.add_argument("--first-step", type=int, default=100)
    parser.add_argument("--step-every", type=int, default=100)
    args = parser.parse_args(argv)
    if args.in_flight < 1:
        parser.error("--in-flight must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trainer = Trainer(args)
    try:
        if args.in_flight == 1:
            trainer.one_at_a_time()
        else:
            trainer.overlapping(args.in_flight)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            print(f"OSError: {error}", file=sys.stderr, flush=True)
            return 28
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
