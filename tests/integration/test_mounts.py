"""Choosing inotify or polling from the filesystem that holds a directory."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from support import Mounts, can_mount_tmpfs

from ckptguard.store.local.mounts import (
    Mount,
    filesystem_type,
    is_network,
    mount_of,
    polling_reason,
)

Partition = namedtuple("Partition", "device mountpoint fstype opts")


def test_local_directory_is_watched_with_inotify(tmp_path: Path) -> None:
    """A directory on the local disk needs no polling."""
    assert filesystem_type(str(tmp_path)) is not None
    assert polling_reason(str(tmp_path)) is None


@pytest.mark.root
@pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs()))
def test_the_innermost_mount_decides(tmp_path: Path, mounts: Mounts) -> None:
    """A tmpfs mounted below the local disk is recognised as tmpfs (the longest mount point)."""
    fs = mounts.tmpfs(tmp_path / "mnt", 1 << 20)
    (fs / "models").mkdir()
    assert filesystem_type(str(fs / "models")) == "tmpfs"
    assert polling_reason(str(fs / "models")) is None


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "lustre", "fuse.sshfs", "ceph"])
def test_network_filesystems_are_polled(tmp_path: Path, monkeypatch, fstype: str) -> None:
    """NFS, CIFS, Lustre, FUSE and Ceph mounts are polled, with the reason named.

    No such mount can be made here, so the mount table alone is substituted.
    """
    real = psutil.disk_partitions(all=True)
    fake = [*real, Partition("server:/export", str(tmp_path), fstype, "rw")]
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: fake)
    reason = polling_reason(str(tmp_path / "models"))
    assert reason is not None and fstype in reason


def test_mount_of_a_descriptor_agrees_with_the_mount_table(tmp_path: Path) -> None:
    """mount_of (mountinfo, by the descriptor's mount id) names the type psutil finds."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mount = mount_of(fd)
    finally:
        os.close(fd)
    assert mount is not None and mount.fstype == filesystem_type(str(tmp_path))


@pytest.mark.root
@pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs()))
def test_mount_of_a_tmpfs_is_local_with_its_device(tmp_path: Path, mounts: Mounts) -> None:
    """A tmpfs is local (its directory lock is a flock on it) and has its own device."""
    fs = mounts.tmpfs(tmp_path / "mnt", 1 << 20)
    fd = os.open(fs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mount, st = mount_of(fd), os.fstat(fd)
    finally:
        os.close(fd)
    assert mount == Mount((os.major(st.st_dev), os.minor(st.st_dev)), "tmpfs")
    assert not is_network(mount.fstype)
