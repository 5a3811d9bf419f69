"""The status file: what a running guard says of each directory, for `ckptguard status`.

One small JSON document per guarded directory in the runtime directory (systemd's
RuntimeDirectory=, else /run/ckptguard for root, else $XDG_RUNTIME_DIR/ckptguard, else
the state directory), replaced whole on every write: written to a temporary name in
the same directory, then renamed. It is not synced: it says what is true now, and a
reboot makes it moot. Readable by all (0644), so `ckptguard status` works for any user;
it holds nothing the guarded directory's listing does not already show.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from ckptguard.service.state import APP, VERSION, default_state_dir, read_state, state_path

KIND = "status"


def default_runtime_dir(environ: Mapping[str, str] | None = None, euid: int | None = None) -> str:
    env = os.environ if environ is None else environ
    given = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if given:
        return given
    if (os.geteuid() if euid is None else euid) == 0:
        return f"/run/{APP}"
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(xdg):
        return os.path.join(xdg, APP)
    return default_state_dir(env, euid)


def status_path(runtime_dir: str, directory: str) -> str:
    return state_path(runtime_dir, directory, KIND)


def write_status(runtime_dir: str, directory: str, content: Mapping[str, Any]) -> str | None:
    """Replace the status of `directory` (its real path); a message if that failed."""
    path = status_path(runtime_dir, directory)
    document = {"version": VERSION, "directory": directory, **content}
    try:
        data = (json.dumps(document, allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as error:
        return f"{path}: cannot encode status: {error}"
    temporary: str | None = None
    try:
        os.makedirs(runtime_dir, mode=0o755, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{KIND}-", suffix=".tmp", dir=runtime_dir)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        return f"{path}: {error.strerror or error}"
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return None


def read_status(runtime_dir: str, directory: str) -> tuple[dict[str, Any], str | None]:
    """The status kept for `directory` ({} if none) and what went wrong reading it."""
    return read_state(runtime_dir, directory, KIND)


def guarded_directories(runtime_dir: str) -> list[str]:
    """The directories that have a status file in `runtime_dir`, sorted."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(runtime_dir), f"{KIND}-*.json")):
        with contextlib.suppress(OSError, ValueError), open(path, "rb") as handle:
            directory = json.loads(handle.read(1 << 20)).get("directory")
            if isinstance(directory, str):
                found.append(directory)
    return sorted(found)


def remove_status(runtime_dir: str, directory: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(status_path(runtime_dir, directory))


def guard_alive(pid: object) -> bool:
    """Whether `pid` is a running ckptguard (not a pid reused by something else)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
    except OSError:
        return False
    return b"ckptguard" in command
