"""Options for object storage, checked before anything is contacted: each mistake is one
line and exit 2 (these need no server and no SDK)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptguard.face.cli import main
from ckptguard.face.commands import settings_of
from ckptguard.face.parser import build_parser


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dir", "s3://b/p", "--min-free", "1x"], "object storage has no free space"),
        (["--dir", "s3://key:s3cr3t@b/p"], "credentials or ports do not belong in the URL"),
        (["--dir", "s3://b/p", "--lease", "/tmp/leases"], "holds its own lease object"),
        (["--dir", "s3://b/../p"], "'.' or '..'"),
        (["--dir", "nosuchscheme://b/p"], "has no filesystem installed"),
        (["--dir", "s3://b/p", "--trash-for", "soon"], "not a duration"),
    ],
    ids=["min-free", "credentials", "lease", "dot-dot", "scheme", "trash-for"],
)
def test_remote_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    """Each is refused with exit 2 and one line naming it; no secret is repeated."""
    assert main(["audit", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err
    assert "s3cr3t" not in err


def test_trash_for_is_for_object_storage_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--trash-for on a directory is refused: deletion there is immediate."""
    assert main(["audit", "--dir", str(tmp_path), "--trash-for", "1d"]) == 2
    assert "only for object storage" in capsys.readouterr().err


def test_lease_inside_the_guarded_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guard writes nothing into a directory it guards: nor its lease files."""
    assert main(["audit", "--dir", str(tmp_path), "--lease", str(tmp_path / "l")]) == 2
    assert "inside the guarded directory" in capsys.readouterr().err


def test_config_mixes_buckets_and_directories(tmp_path: Path) -> None:
    """Top-level min_free, trash_for and lease are defaults for the kind they fit: a bucket
    takes no min_free or lease, a directory no trash."""
    config = tmp_path / "ckptguard.toml"
    config.write_text(
        'min_free = "10%"\ntrash_for = "2d"\nlease = "leases"\n'
        '[[directory]]\npath = "s3://bucket/run"\nkeep = 4\n'
        '[[directory]]\npath = "models"\n'
    )
    args = build_parser().parse_args(["check-config", "--config", str(config)])
    bucket, directory = settings_of(args).guards
    assert bucket.path == "s3://bucket/run" and bucket.policy.keep == 4
    assert bucket.policy.min_free.value == 0 and bucket.trash_for == 2 * 86400
    assert bucket.lease is None
    assert directory.path == str(tmp_path / "models") and directory.trash_for is None
    assert directory.lease == str(tmp_path / "leases")
    assert directory.policy.min_free.value == 10


def test_run_options_for_polling(capsys: pytest.CaptureFixture[str]) -> None:
    """--poll-interval and --lease-time have floors: a typo cannot make a busy loop."""
    assert main(["run", "--dir", "s3://b/p", "--poll-interval", "0"]) == 2
    assert "--poll-interval" in capsys.readouterr().err
    assert main(["run", "--dir", "s3://b/p", "--lease-time", "0.5"]) == 2
    assert "--lease-time" in capsys.readouterr().err


def test_check_config_words_a_bucket_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """check-config describes a bucket's policy with no free-space target (no --min-free
    the user never gave), its size budget and its trash."""
    args = ["--dir", "s3://b/p", "--keep", "2", "--max-size", "10GB", "--trash-for", "2d"]
    assert main(["check-config", *args]) == 0
    out = capsys.readouterr().out
    assert "s3://b/p: " in out and "object storage, no free-space target" in out
    assert "at most 10.0 GB (--max-size 10GB)" in out and "into the trash for 2d" in out
    assert "--min-free" not in out
