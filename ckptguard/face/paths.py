"""Guarded directories checked before anything starts, so that a typo stops at once.

A `--dir` whose parent does not exist either is a typo: exit 2, one line. So is one this
user cannot read (or, where deleting is asked for, write). A missing directory whose
parent exists is what training creates on its first save: `run` waits for it, while the
one-shot commands have nothing to look at and `check-config` says what systemd would do.
A read-only filesystem is not the user's typo: the daemon guards it and says so.
"""

from __future__ import annotations

import os
from enum import Enum

from ckptguard.face.config import ConfigError
from ckptguard.service.settings import Settings
from ckptguard.store.remote.location import is_remote


class Need(Enum):
    """What a command will do in its directories."""

    READ = "read"  # audit, prune without --execute, run --dry-run
    DELETE = "delete"  # prune --execute
    GUARD = "guard"  # run: may wait for a missing directory
    CHECK = "check"  # check-config: what `run` under systemd would meet


SYSTEMD_MISSING = (
    "`ckptguard run` would wait for it, but under systemd a unit that lists it in "
    "ReadWritePaths= fails to start (status=226/NAMESPACE) until it exists: create it first"
)


def check_directories(settings: Settings, need: Need, *, dry_run: bool = False) -> list[str]:
    """Raise ConfigError naming every unusable directory; return those to wait for."""
    problems: list[str] = []
    waiting: list[str] = []
    for guard in settings.guards:
        problem = _problem(guard.path, need, dry_run=dry_run)
        if problem == "":
            waiting.append(guard.path)
        elif problem is not None:
            problems.append(f"--dir {guard.path}: {problem}")
    if problems:
        raise ConfigError(problems)
    return waiting


def _problem(path: str, need: Need, *, dry_run: bool) -> str | None:
    """None if usable, "" if missing but worth waiting for, else what is wrong. An object
    store's prefix is checked when it is first contacted (`store.remote.trouble`)."""
    if is_remote(path):
        return None
    if os.path.isdir(path):
        return _access(path, writes=need is not Need.READ and not dry_run)
    if os.path.lexists(path):
        return "not a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"no such directory, nor its parent {parent} (a typo?)"
    if need is Need.GUARD:
        return ""
    if need is Need.CHECK:
        return f"no such directory; {SYSTEMD_MISSING}"
    return "no such directory"


def _access(path: str, *, writes: bool) -> str | None:
    who = _who()
    if not os.access(path, os.R_OK | os.X_OK, effective_ids=_effective()):
        return f"permission denied: {who} cannot read it"
    if writes and not os.access(path, os.W_OK, effective_ids=_effective()):
        if _read_only(path):
            return None  # the daemon guards it and says so (directory_read_only)
        return f"permission denied: {who} cannot delete in it (no write permission)"
    return None


def _effective() -> bool:
    return os.access in os.supports_effective_ids


def _who() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.geteuid()).pw_name}"
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def _read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
