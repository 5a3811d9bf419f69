"""One guard per directory: an exclusive `flock` on a lock file inside it.

flock on NFS is carried by the server's locks on Linux, so two hosts sharing the
directory exclude each other too. The file records who holds it, for the message the
second guard prints; writing that record may fail on a full disk, the lock does not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat

LOCK_NAME = ".ckptguard.lock"
_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LockHeld(Exception):
    """Another guard holds the directory; `holder` says who, as well as we know."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class LockUnavailable(Exception):
    """The lock file cannot be used (not a regular file, permission denied, disk full)."""

    def __init__(self, message: str, *, no_space: bool = False) -> None:
        super().__init__(message)
        self.no_space = no_space


def acquire(dir_fd: int) -> int:
    """Take the directory's lock without waiting; returns the lock file's descriptor."""
    _remove_planted_lock(dir_fd)
    fd = _open_lock_file(dir_fd)
    st = os.fstat(fd)
    if st.st_uid not in _trusted_owners(dir_fd):
        # Planted by someone who may write to DIR but is neither us, root nor DIR's owner,
        # perhaps to hold it and keep every guard out: replace it with our own.
        os.close(fd)
        try:
            os.unlink(LOCK_NAME, dir_fd=dir_fd)
        except OSError as error:
            raise LockUnavailable(
                f"{LOCK_NAME} belongs to uid {st.st_uid} and cannot be replaced: {error.strerror}"
            ) from None
        fd = _open_lock_file(dir_fd)
        st = os.fstat(fd)
    try:
        if not stat.S_ISREG(st.st_mode):
            raise LockUnavailable(f"{LOCK_NAME} is not a regular file")
        if st.st_nlink != 1:
            # A hard link to a file elsewhere: writing our record would change that file.
            raise LockUnavailable(f"{LOCK_NAME} has other hard links: refusing to use it")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise LockHeld(holder) from None
    except LockUnavailable:
        os.close(fd)
        raise
    except OSError as error:  # ENOLCK on an NFS mount without a lock service, say
        os.close(fd)
        raise LockUnavailable(f"{LOCK_NAME}: cannot lock: {error.strerror}") from None
    _write_holder(fd)
    return fd


def _remove_planted_lock(dir_fd: int) -> None:
    """Unlink a regular lock file planted by an untrusted user, before opening anything.

    It must go before any open: in a sticky, world-writable DIR the kernel's
    protected_regular rule (a systemd default) refuses even root an O_CREAT open of
    another user's file, and a file under a lease refuses a non-blocking open.
    """
    try:
        st = os.stat(LOCK_NAME, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return  # absent, or trouble the open will name
    if stat.S_ISREG(st.st_mode) and st.st_uid not in _trusted_owners(dir_fd):
        try:
            os.unlink(LOCK_NAME, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise LockUnavailable(
                f"{LOCK_NAME} belongs to uid {st.st_uid} and cannot be replaced: {error.strerror}"
            ) from None


def _open_lock_file(dir_fd: int) -> int:
    try:
        try:
            # Existing: opened without O_CREAT, which protected_regular may refuse.
            return os.open(LOCK_NAME, _FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            # 0600: a file others can open is one others can flock, locking guards out.
            return os.open(LOCK_NAME, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        return os.open(LOCK_NAME, _FLAGS, dir_fd=dir_fd)  # created by a racing guard
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise LockUnavailable(f"{LOCK_NAME} is a symlink: refusing to use it") from None
        hint = ""
        if error.errno == errno.EROFS:
            hint = " (under systemd, is the directory in ReadWritePaths=?)"
        no_space = error.errno in (errno.ENOSPC, errno.EDQUOT)
        raise LockUnavailable(f"{LOCK_NAME}: {error.strerror}{hint}", no_space=no_space) from None


def _trusted_owners(dir_fd: int) -> set[int]:
    return {0, os.geteuid(), os.fstat(dir_fd).st_uid}


def release(lock_fd: int) -> None:
    """Drop the lock; the file stays, so a racing guard never locks an unlinked inode."""
    os.close(lock_fd)


def _read_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 256, 0).decode("utf-8", "replace")
    except OSError:
        raw = ""
    # Whoever holds the lock wrote this text: keep it to one printable line so that it
    # cannot forge log lines when we print it.
    text = " ".join("".join(c if c.isprintable() else " " for c in raw).split())[:120]
    return text or "unknown holder"


def _write_holder(fd: int) -> None:
    record = f"pid {os.getpid()} on host {socket.gethostname()}\n".encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
    except OSError:
        pass  # a full disk must not stop the guard that is there to free it
