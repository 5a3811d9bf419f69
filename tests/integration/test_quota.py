"""Quotas: on a loop-mounted ext4 made with quotas here, the space `--min-free` compares
against is the smaller of the filesystem's and the writer's quota, and `audit` says
which binds. Needs root, a kernel with quota support (CONFIG_QUOTA) and `setquota`
(Debian's quota package); skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import keras_bytes, run_cli

pytestmark = pytest.mark.root

OWNER = 4242
MB = 10**6


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def quota_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB ext4 with user, group and project quotas, mounted on a loop device."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a loop device")
    for tool in ("mkfs.ext4", "setquota", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (e2fsprogs; setquota is in the quota package)")
    image, mount = tmp_path / "quota.img", tmp_path / "mnt"
    mount.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(64 * 2**20)
    made = _run(
        "mkfs.ext4",
        "-q",
        "-F",
        "-O",
        "quota",
        "-E",
        "quotatype=usrquota:grpquota:prjquota",
        str(image),
    )
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 cannot make quotas here: {made.stderr.strip()}")
    mounted = _run("mount", "-o", "loop,usrquota,grpquota,prjquota", str(image), str(mount))
    if mounted.returncode != 0:
        log = _run("dmesg").stdout.strip().splitlines()[-1:] or [mounted.stderr.strip()]
        pytest.skip(f"the kernel will not mount an ext4 with quotas: {log[0]}")
    try:
        yield mount
    finally:
        _run("umount", "-l", str(mount))


def _models(mount: Path, count: int) -> Path:
    """`count` complete Keras checkpoints of about 1 MB each, owned by OWNER."""
    models = mount / "models"
    models.mkdir()
    os.chown(models, OWNER, OWNER)
    data = keras_bytes(MB)
    for step in range(1, count + 1):
        path = models / f"checkpoint_step_{step * 100}.keras"
        path.write_bytes(data)
        os.chown(path, OWNER, OWNER)
        os.utime(path, (1_700_000_000 + step, 1_700_000_000 + step))
    return models


def _audit(models: Path, *args: str) -> tuple[dict, str]:
    done = run_cli("audit", "--json", "--dir", str(models), "--keep", "5", *args)
    assert done.returncode == 0, done.stderr
    table = run_cli("audit", "--dir", str(models), "--keep", "5", *args)
    return json.loads(done.stdout), table.stdout


def test_user_quota_binds_min_free(quota_fs: Path) -> None:
    """With the owner's hard limit 3 MB above its use, the quota binds: --min-free 4MB
    deletes the oldest checkpoint although the filesystem has tens of MB free."""
    models = _models(quota_fs, 5)
    used = int(_run("du", "-sk", str(models)).stdout.split()[0])
    limited = _run("setquota", "-u", str(OWNER), "0", str(used + 3000), "0", "0", str(quota_fs))
    assert limited.returncode == 0, limited.stderr
    document, table = _audit(models, "--min-free", "4MB")
    (summary,) = document["summary"]["directories"]
    assert summary["free_limited_by"] == "quota"
    assert summary["quota"]["kind"] == "user" and summary["quota"]["id"] == OWNER
    assert summary["free_now"] == summary["quota"]["free"] < summary["filesystem_free"]
    deleted = [e["step"] for e in document["entries"] if e["action"] == "delete"]
    assert deleted == [100]
    assert f"the user quota of {OWNER} binds" in table


def test_without_a_limit_the_filesystem_binds(quota_fs: Path) -> None:
    """No limit for the owner: free space is the filesystem's, and nothing is said of quotas."""
    models = _models(quota_fs, 5)
    document, table = _audit(models, "--min-free", "4MB")
    (summary,) = document["summary"]["directories"]
    assert summary["free_limited_by"] == "filesystem"
    assert "quota" not in summary
    assert not [e for e in document["entries"] if e["action"] == "delete"]
    assert "quota" not in table
