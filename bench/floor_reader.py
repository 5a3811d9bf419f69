"""The latency floors: the least an outside process can do on a checkpoint's close.

On the close of `checkpoint_step_S.keras` after writing, delete
`checkpoint_step_{S-KEEP}.keras` and nothing else: no listing, no checks, no log. Two
ways of hearing the close, each a floor for what a watcher built on it can reach:

- `--via inotify`: a raw inotify read loop in the main thread (ctypes `inotify_init1`,
  blocking `os.read`), asking for the events ckptguard's watcher asks for on files
  (create, modify, close after writing, moves, deletes);
- `--via watchdog`: a bare watchdog `Observer` with a handler for the same events, as
  ckptguard's watcher sets it up (inotify reader thread, emitter, observer queue,
  dispatcher thread, handler).

Prints `ready` once the watch is in place, then runs until killed.

    python bench/floor_reader.py --dir D --via inotify --keep 3
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import struct
import sys
import time
from typing import Any

NAME = re.compile(r"checkpoint_step_([0-9]+)\.keras")
# <sys/inotify.h>
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_CLOEXEC = 0x100, 0x200, 0o2000000
MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


def delete_older(directory: str, name: str, keep: int) -> None:
    match = NAME.fullmatch(name)
    if match:
        old = f"checkpoint_step_{int(match.group(1)) - keep}.keras"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, old))


def with_inotify(directory: str, keep: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_CLOEXEC)
    if fd < 0 or libc.inotify_add_watch(fd, os.fsencode(directory), MASK) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    print("ready", flush=True)
    while True:
        data = os.read(fd, 65536)
        offset = 0
        while offset < len(data):
            _, mask, _, length = HEADER.unpack_from(data, offset)
            start = offset + HEADER.size
            offset = start + length
            if mask & IN_CLOSE_WRITE:
                name = data[start:offset].rstrip(b"\0").decode()
                delete_older(directory, name, keep)


def with_watchdog(directory: str, keep: int) -> None:
    from watchdog import events
    from watchdog.observers import Observer

    class Handler(events.FileSystemEventHandler):
        def on_closed(self, event: Any) -> None:
            delete_older(directory, os.path.basename(os.fsdecode(event.src_path)), keep)

    kinds = [
        events.FileCreatedEvent,
        events.FileModifiedEvent,
        events.FileClosedEvent,
        events.FileMovedEvent,
        events.FileDeletedEvent,
    ]
    observer = Observer()
    observer.schedule(Handler(), directory, recursive=False, event_filter=kinds)
    observer.start()
    print("ready", flush=True)
    while observer.is_alive():
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--via", choices=("inotify", "watchdog"), required=True)
    parser.add_argument("--keep", type=int, default=3)
    args = parser.parse_args(argv)
    (with_inotify if args.via == "inotify" else with_watchdog)(args.dir, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
