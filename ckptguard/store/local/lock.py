"""One guard per directory: an exclusive `flock` on the directory itself.

The lock is taken on a read-only descriptor of DIR, so a guard writes nothing into the
filesystem it guards and holds nothing there open for writing (`mount -o remount,ro`
works while it runs). A second guard learns who holds it from /proc/locks.

Anyone who can read DIR can open and flock it, so a holder is obeyed only when it runs
as root, as our user or as DIR's owner; any other holder is no guard (`UntrustedHolder`).

The lock falls back to a file, DIR/.ckptguard.lock, with a record of its holder, where a
directory cannot be flocked (EBADF, ENOLCK, EINVAL, EOPNOTSUPP) and on network
filesystems: NFS and CIFS keep a directory's flock on this host (their directories have
no lock operation), while a file's flock on NFS is a server lock that also keeps out
guards on other hosts. Only then does ckptguard write in DIR.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
from dataclasses import dataclass

from ckptguard.store.local.mounts import is_network, mount_of

LOCK_NAME = ".ckptguard.lock"
_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# flock on a directory descriptor refused by the filesystem, not by another holder.
_NO_DIRECTORY_LOCK = frozenset({errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP})
PROC = "/proc"


class LockHeld(Exception):
    """Another guard holds the directory; `holder` says who, as well as we know."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class UntrustedHolder(Exception):
    """The directory's lock is held, but by no guard (see `Holder`); `holder` says who."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class LockUnavailable(Exception):
    """The lock cannot be taken; for the lock file: not a regular file, no access, disk full."""

    def __init__(self, message: str, *, no_space: bool = False) -> None:
        super().__init__(message)
        self.no_space = no_space


@dataclass(frozen=True)
class Holder:
    """A process that /proc/locks says holds a lock, and its uids if we may read them."""

    pid: int
    uids: tuple[int, ...] | None  # real, effective, saved, filesystem

    def may_be_guard(self, trusted: set[int]) -> bool:
        # Unreadable uids: the holder has exited, its lock living on in a descriptor it
        # handed on (no guard does that), or hidepid hides it from us (another user's).
        return self.uids is not None and set(self.uids) <= trusted

    def __str__(self) -> str:
        # Made of numbers only: one printable line, whoever the holder is.
        if self.uids is None:
            return f"pid {self.pid} (exited or hidden)"
        distinct = sorted(set(self.uids), key=self.uids.index)
        return f"pid {self.pid} (uid {'/'.join(map(str, distinct))})"


def acquire(dir_fd: int) -> int:
    """Take the directory's lock without waiting; returns the descriptor holding it.

    Raises LockHeld (another guard has it), UntrustedHolder (held, but by no guard) or
    LockUnavailable (the fallback lock file cannot be used).
    """
    mount = mount_of(dir_fd)
    if mount is not None and is_network(mount.fstype):
        return acquire_file(dir_fd)  # other hosts may guard it: see the module's docstring
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as error:
        raise LockUnavailable(f"cannot open the directory to lock it: {error.strerror}") from None
    try:
        if _flock(fd):
            return fd
        holders = lock_holders(fd)
        if not holders and _flock(fd):  # released between the two looks
            return fd
    except OSError as error:
        os.close(fd)
        if error.errno in _NO_DIRECTORY_LOCK:
            return acquire_file(dir_fd)
        raise LockUnavailable(f"cannot lock the directory: {error.strerror}") from None
    os.close(fd)
    trusted = _trusted_owners(dir_fd)
    guards = [holder for holder in holders if holder.may_be_guard(trusted)]
    if guards or not holders:
        # None found: held from where /proc/locks cannot show it (another pid namespace).
        raise LockHeld(", ".join(map(str, guards)) or "unknown holder")
    raise UntrustedHolder(", ".join(map(str, holders)))


def _flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock_holders(fd: int) -> list[Holder]:
    """The processes holding a flock on the file open as `fd`, from /proc/locks."""
    st = os.fstat(fd)
    # btrfs reports a subvolume's own st_dev; /proc/locks shows the superblock's.
    mount = mount_of(fd)
    devices = {(os.major(st.st_dev), os.minor(st.st_dev))} | ({mount.device} if mount else set())
    pids: set[int] = set()
    try:
        with open(f"{PROC}/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's has "->".
                fields = line.split()
                if len(fields) < 6 or fields[1] != "FLOCK":
                    continue
                where = fields[5].split(":")  # major:minor (hex) : inode (decimal)
                try:
                    pid, inode = int(fields[4]), int(where[2])
                    device = (int(where[0], 16), int(where[1], 16))
                except (ValueError, IndexError):
                    continue
                if inode == st.st_ino and device in devices and pid > 0:
                    pids.add(pid)
    except OSError:
        return []
    return [_holder(pid) for pid in sorted(pids)]


def _holder(pid: int) -> Holder:
    try:
        with open(f"{PROC}/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return Holder(pid, tuple(int(uid) for uid in line.split()[1:]))
    except (OSError, ValueError):
        pass
    return Holder(pid, None)


def release(lock_fd: int) -> None:
    """Drop the lock. A fallback lock file stays: a racing guard never locks an unlinked inode."""
    os.close(lock_fd)


# --- the fallback: a lock file in DIR, for filesystems that cannot flock a directory ----


def acquire_file(dir_fd: int) -> int:
    """Take DIR/.ckptguard.lock without waiting; returns the lock file's descriptor.

    flock on NFS is carried by the server's locks on Linux, so two hosts sharing the
    directory exclude each other too. The file records who holds it, for the message the
    second guard prints; writing that record may fail on a full disk, the lock does not.
    """
    _remove_planted_lock(dir_fd)
    fd, st = _trusted_lock_file(dir_fd)
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


def _trusted_lock_file(dir_fd: int) -> tuple[int, os.stat_result]:
    """The lock file opened, replaced first if someone untrusted made it since we looked."""
    fd = _open_lock_file(dir_fd)
    st = os.fstat(fd)
    if st.st_uid in _trusted_owners(dir_fd):
        return fd, st
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
    return fd, os.fstat(fd)


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
