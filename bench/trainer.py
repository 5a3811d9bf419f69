"""A stand-in for a training job: saves `.keras`-style zips the way Keras does.

Each save opens the final path and streams the archive into it in chunks (no temp file,
no rename), as Keras 3 does. Exits 0 after all saves, 28 (ENOSPC) when the disk fills.
With --keep-in-process N it also deletes the oldest beyond N after each save, the fix
that lived inside the training script.

    python bench/trainer.py --dir D --saves 20 --size 1048576
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
import time
import zipfile


def checkpoint_bytes(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", os.urandom(size))
    return buffer.getvalue()


def save(path: str, data: bytes, *, chunk: int, chunk_pause: float) -> None:
    with open(path, "wb") as handle:
        for start in range(0, len(data), chunk):
            handle.write(data[start : start + chunk])
            handle.flush()
            if chunk_pause:
                time.sleep(chunk_pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--size", type=int, default=1 << 20, help="payload bytes per checkpoint")
    parser.add_argument("--chunk", type=int, default=64 << 10)
    parser.add_argument("--chunk-pause", type=float, default=0.002, help="seconds per chunk")
    parser.add_argument("--train-pause", type=float, default=0.02, help="seconds between saves")
    parser.add_argument("--keep-in-process", type=int, default=0)
    parser.add_argument("--first-step", type=int, default=100)
    parser.add_argument("--step-every", type=int, default=100)
    args = parser.parse_args(argv)

    data = checkpoint_bytes(args.size)
    saved: list[str] = []
    for index in range(args.saves):
        step = args.first_step + index * args.step_every
        path = os.path.join(args.dir, f"checkpoint_step_{step}.keras")
        print(f"saving checkpoint: {path}", flush=True)
        try:
            save(path, data, chunk=args.chunk, chunk_pause=args.chunk_pause)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                print(f"OSError: {error}", file=sys.stderr, flush=True)
                return 28
            raise
        saved.append(path)
        if args.keep_in_process:
            while len(saved) > args.keep_in_process:
                os.unlink(saved.pop(0))
        time.sleep(args.train_pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
